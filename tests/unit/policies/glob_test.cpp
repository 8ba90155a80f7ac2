#include <chrono>
#include <string>
#include <vector>

#include <fnmatch.h>
#include <gtest/gtest.h>

#include <guestdump/policies/glob.h>

namespace guestdump::policies {
namespace {

TEST(Glob, LiteralsMatchWhole) {
  EXPECT_TRUE(glob_match("web1", "web1"));
  EXPECT_FALSE(glob_match("web1", "web10"));
  EXPECT_FALSE(glob_match("web10", "web1"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_FALSE(glob_match("a", ""));
}

TEST(Glob, Star) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything/with/slashes"));
  EXPECT_TRUE(glob_match("*", ".hidden")); // no FNM_PERIOD
  EXPECT_TRUE(glob_match("web*", "web"));
  EXPECT_TRUE(glob_match("web*", "web-01"));
  EXPECT_FALSE(glob_match("web*", "db-web"));
  EXPECT_TRUE(glob_match("*-prod", "api-prod"));
  EXPECT_FALSE(glob_match("*-prod", "api-prod2"));
  EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
  EXPECT_TRUE(glob_match("a*b*c", "abc"));
  EXPECT_FALSE(glob_match("a*b*c", "acb"));
  EXPECT_TRUE(glob_match("**", "x"));
  EXPECT_TRUE(glob_match("*a", "aaa"));
}

TEST(Glob, QuestionMark) {
  EXPECT_TRUE(glob_match("web?", "web1"));
  EXPECT_FALSE(glob_match("web?", "web"));
  EXPECT_FALSE(glob_match("web?", "web12"));
  EXPECT_TRUE(glob_match("??", "/."));
}

TEST(Glob, Brackets) {
  EXPECT_TRUE(glob_match("web[0-9]", "web7"));
  EXPECT_FALSE(glob_match("web[0-9]", "webx"));
  EXPECT_TRUE(glob_match("web[!0-9]", "webx"));
  EXPECT_FALSE(glob_match("web[!0-9]", "web7"));
  EXPECT_TRUE(glob_match("web[^0-9]", "webx"));
  EXPECT_TRUE(glob_match("[abc]", "b"));
  EXPECT_FALSE(glob_match("[abc]", "d"));
  EXPECT_TRUE(glob_match("[]]", "]")); // ']' first is literal
  EXPECT_TRUE(glob_match("[!]]", "a"));
  EXPECT_FALSE(glob_match("[!]]", "]"));
  EXPECT_TRUE(glob_match("[a-]", "-")); // '-' last is literal
  EXPECT_TRUE(glob_match("[[:digit:]]x", "5x"));
  EXPECT_FALSE(glob_match("[[:digit:]]x", "ax"));
  EXPECT_TRUE(glob_match("[[:alpha:][:digit:]]", "q"));
  EXPECT_TRUE(glob_match("[[:xdigit:]]", "F"));
  EXPECT_FALSE(glob_match("[[:xdigit:]]", "g"));
}

TEST(Glob, UnterminatedBracketIsLiteral) {
  EXPECT_TRUE(glob_match("web[1", "web[1"));
  EXPECT_FALSE(glob_match("web[1", "web1"));
}

TEST(Glob, Escapes) {
  EXPECT_TRUE(glob_match("web\\*", "web*"));
  EXPECT_FALSE(glob_match("web\\*", "web1"));
  EXPECT_TRUE(glob_match("\\?", "?"));
  EXPECT_FALSE(glob_match("\\?", "a"));
  EXPECT_TRUE(glob_match("[\\]]", "]"));
}

TEST(Glob, CaseModes) {
  EXPECT_FALSE(glob_match("Web*", "web1"));
  EXPECT_TRUE(glob_match("Web*", "web1", Case::kInsensitive));
  EXPECT_TRUE(glob_match("ABC-[D-F]?", "abc-e1", Case::kInsensitive));
  EXPECT_FALSE(glob_match("ABC-[D-F]?", "abc-e1"));
  EXPECT_TRUE(glob_match("[a-f]", "C", Case::kInsensitive));
  EXPECT_TRUE(glob_match("[[:upper:]]", "c", Case::kInsensitive));
  EXPECT_FALSE(glob_match("[[:upper:]]", "c"));
}

TEST(Glob, NoExponentialBacktracking) {
  const std::string text(5000, 'a');
  const std::string pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob_match(pattern, text));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// The library claims fnmatch(3) semantics: compare with glibc on a grid of patterns and names.
TEST(Glob, AgreesWithFnmatch) {
  const std::vector<std::string> patterns = {"*",
                                             "?",
                                             "web*",
                                             "*web*",
                                             "w?b*1",
                                             "[a-c]*",
                                             "[!a-c]*",
                                             "*[0-9]",
                                             "*[!0-9]",
                                             "[[:alpha:]]*",
                                             "db-\\*",
                                             "db-[*]",
                                             "*.example",
                                             "a*b?c*",
                                             "[]a]*",
                                             "[a-]x",
                                             "*-*-*",
                                             "x[",
                                             "[!]]*",
                                             "\\[x\\]",
                                             "*\\?",
                                             "?\?\?\?-*",
                                             "[[:digit:]]*[[:upper:]]",
                                             "**a**",
                                             "[z-a]",
                                             "*/*"};
  const std::vector<std::string> names = {
      "",    "web", "web1",  "web-01", "db-*", "db-x",  "a.example", "aXbYc",   "]abc",
      "-x",  "ax",  "a-b-c", "x[",     "[x]",  "what?", "2026-11",   "7fooBAR", "zz",
      "a/b", "bbb", "c9",    "Web1",   "a",    "abba",  ".hidden",   "9Z"};
  for (const std::string& p : patterns) {
    for (const std::string& n : names) {
      const bool expected = ::fnmatch(p.c_str(), n.c_str(), 0) == 0;
      EXPECT_EQ(glob_match(p, n), expected) << "pattern '" << p << "' name '" << n << "'";
    }
  }
}

TEST(Glob, CaseInsensitiveAgreesWithFnmatchCasefold) {
  const std::vector<std::string> patterns = {"WEB*", "web?", "*Prod", "[a-c]x", "[A-C]x", "Db-*"};
  const std::vector<std::string> names = {"web1", "WEB1", "api-prod", "API-PROD", "bx",
                                          "BX",   "db-1", "DB-1",     "dx"};
  for (const std::string& p : patterns) {
    for (const std::string& n : names) {
      const bool expected = ::fnmatch(p.c_str(), n.c_str(), FNM_CASEFOLD) == 0;
      EXPECT_EQ(glob_match(p, n, Case::kInsensitive), expected)
          << "pattern '" << p << "' name '" << n << "'";
    }
  }
}

} // namespace
} // namespace guestdump::policies
