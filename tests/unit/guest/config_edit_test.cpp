// The minimal-change editors: only the named key's line changes, every other byte survives; what
// they cannot read exactly (each hostile input below) they refuse, naming file and line.

#include "guestdump/guest/config_edit.h"

#include <gtest/gtest.h>

namespace guestdump::guest {
namespace {

constexpr const char* kFile = "/etc/default/grub";

std::optional<std::string> get(const std::string& text, const std::string& key) {
  auto v = get_shell_var(text, key, kFile);
  EXPECT_TRUE(v) << (v ? "" : v.error().what());
  return v ? *v : std::nullopt;
}

std::string set(const std::string& text, const std::string& key, const std::string& value) {
  auto r = set_shell_var(text, key, value, kFile);
  EXPECT_TRUE(r) << (r ? "" : r.error().what());
  return r ? *r : "";
}

// Both reading and setting `key` refuse `text`, naming the file, the line and the reason.
void expect_refused(const std::string& text, const std::string& key, std::size_t line,
                    const std::string& reason) {
  const std::string where = std::string(kFile) + ":" + std::to_string(line) + ": ";
  auto g = get_shell_var(text, key, kFile);
  ASSERT_FALSE(g) << "read " << key << " as '" << g->value_or("(unset)") << "' from:\n" << text;
  EXPECT_EQ(g.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(g.error().what().find(where), std::string::npos) << g.error().what();
  EXPECT_NE(g.error().what().find(reason), std::string::npos) << g.error().what();
  auto s = set_shell_var(text, key, "quiet crashkernel=512M", kFile);
  ASSERT_FALSE(s) << "rewrote it as:\n" << *s;
  EXPECT_EQ(s.error().what(), g.error().what());
}

TEST(ShellVar, RewritesTheAssignmentInPlace) {
  const std::string in = "# USE_KDUMP=0 in a comment\n"
                         "#USE_KDUMP=1\n"
                         "  export USE_KDUMP='0'   # trailing comment\n"
                         "OTHER=\"x y\"\n";
  EXPECT_EQ(get(in, "USE_KDUMP"), "0");
  EXPECT_EQ(set(in, "USE_KDUMP", "1"), "# USE_KDUMP=0 in a comment\n"
                                       "#USE_KDUMP=1\n"
                                       "  export USE_KDUMP='1'   # trailing comment\n"
                                       "OTHER=\"x y\"\n");
  EXPECT_EQ(get(in, "OTHER"), "x y");
  EXPECT_FALSE(get(in, "USE"));
  EXPECT_EQ(set("USE_KDUMP=0 # off\n", "USE_KDUMP", "1"), "USE_KDUMP=\"1\" # off\n");
}

TEST(ShellVar, AppendsWhenAbsentKeepingLineEndings) {
  EXPECT_EQ(set("A=1", "B", "2"), "A=1\nB=\"2\"\n");
  EXPECT_EQ(set("A=1\r\n", "B", "2"), "A=1\r\nB=\"2\"\r\n");
  // A last line ending in a lone "\r" (found by fuzz_boot_config) becomes a CRLF line.
  EXPECT_EQ(set("A=1\r", "B", "2"), "A=1\r\nB=\"2\"\r\n");
  EXPECT_EQ(set("", "B", "2"), "B=\"2\"\n");
  EXPECT_EQ(set("A=1\r\nB=old\r\nC=3", "B", "new"), "A=1\r\nB=\"new\"\r\nC=3");
  // A commented-out default is not an assignment.
  EXPECT_EQ(set("#KDUMP_CMDLINE_APPEND=\"x\"\n", "KDUMP_CMDLINE_APPEND", "y"),
            "#KDUMP_CMDLINE_APPEND=\"x\"\nKDUMP_CMDLINE_APPEND=\"y\"\n");
}

TEST(ShellVar, SettingTheCurrentValueKeepsEveryByte) {
  for (const std::string in : {"USE_KDUMP=1\n", "USE_KDUMP=1", "  export USE_KDUMP='1'  # c\r\n",
                               "A=\"\"\nUSE_KDUMP=\"1\"\n", "USE_KDUMP=\"1\"\t\n#x\n"})
    EXPECT_EQ(set(in, "USE_KDUMP", "1"), in);
}

TEST(ShellVar, PlainExpansionsAreKeptAsWords) {
  // Debian's /etc/default/grub.d/kdump-tools.cfg, with Ubuntu's GRUB_DISTRIBUTOR line on another
  // key: both can be read exactly.
  const std::string distributor =
      "GRUB_DISTRIBUTOR=`( . /etc/os-release; echo ${NAME:-Ubuntu} ) 2>/dev/null || echo "
      "Ubuntu`\n";
  const std::string in =
      distributor +
      "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT ${X} crashkernel=384M-:128M\"\n";
  EXPECT_EQ(get(in, "GRUB_CMDLINE_LINUX_DEFAULT"),
            "$GRUB_CMDLINE_LINUX_DEFAULT ${X} crashkernel=384M-:128M");
  EXPECT_EQ(set(in, "GRUB_CMDLINE_LINUX_DEFAULT", "$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=1G"),
            distributor +
                "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=1G\"\n");
}

// ---- what the shell editor refuses; each input is what a hand-edited file may hold

TEST(ShellVarRefuses, EscapedQuoteInTheValue) {
  expect_refused("GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"quiet acpi_osi=\\\"Windows 2015\\\"\"\n",
                 "GRUB_CMDLINE_LINUX", 2, "backslash (an escape)");
  expect_refused("GRUB_CMDLINE_LINUX='it'\\''s'\n", "GRUB_CMDLINE_LINUX", 1,
                 "more after the value");
}

TEST(ShellVarRefuses, BackslashContinuationLine) {
  expect_refused("GRUB_CMDLINE_LINUX=\"quiet \\\n  splash\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "backslash continuation line");
  // On another key too: the next line is that command's argument, not an assignment.
  expect_refused("OTHER=1 \\\nGRUB_CMDLINE_LINUX=\"quiet\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "backslash continuation line");
}

TEST(ShellVarRefuses, UnbalancedQuotes) {
  // A value spanning lines: what looks like our assignment is inside OTHER's string.
  expect_refused("OTHER=\"first\nGRUB_CMDLINE_LINUX=\"evil\"\n\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "unbalanced double quote");
  expect_refused("OTHER='a\nGRUB_CMDLINE_LINUX=x\n'\n", "GRUB_CMDLINE_LINUX", 1,
                 "unbalanced single quote");
  expect_refused("X=`date\nGRUB_CMDLINE_LINUX=x\n`\n", "GRUB_CMDLINE_LINUX", 1,
                 "unbalanced backtick");
  expect_refused("X=$(date\nGRUB_CMDLINE_LINUX=x)\n", "GRUB_CMDLINE_LINUX", 1,
                 "unbalanced '$(' or '('");
  expect_refused("X=${Y:-\nGRUB_CMDLINE_LINUX=x}\n", "GRUB_CMDLINE_LINUX", 1, "unbalanced '${'");
  expect_refused("esac)\nGRUB_CMDLINE_LINUX=x\n", "GRUB_CMDLINE_LINUX", 1, "unbalanced ')'");
}

TEST(ShellVarRefuses, SubstitutionsAndExpansionsInOurValue) {
  expect_refused("GRUB_CMDLINE_LINUX=\"$(cat /etc/extra) quiet\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "'$' expansion other than $NAME");
  expect_refused("GRUB_CMDLINE_LINUX=\"`cat /etc/extra` quiet\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "backtick command substitution");
  expect_refused("GRUB_CMDLINE_LINUX=\"${EXTRA:-quiet splash}\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "'${...}' expansion other than ${NAME}");
  expect_refused("GRUB_CMDLINE_LINUX=\"quiet $1\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "'$' expansion other than $NAME");
  expect_refused("GRUB_CMDLINE_LINUX=$EXTRA\n", "GRUB_CMDLINE_LINUX", 1, "unquoted value with '$'");
}

TEST(ShellVarRefuses, DuplicateAndOtherAssignments) {
  expect_refused("GRUB_CMDLINE_LINUX=\"a\"\n#\nGRUB_CMDLINE_LINUX=\"b\"\n", "GRUB_CMDLINE_LINUX", 3,
                 "assigned again (first on line 1)");
  expect_refused("GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX+=\" b\"\n", "GRUB_CMDLINE_LINUX", 2,
                 "used in a form other than");
  expect_refused("GRUB_CMDLINE_LINUX=\"a\"\nunset GRUB_CMDLINE_LINUX\n", "GRUB_CMDLINE_LINUX", 2,
                 "used in a form other than");
  expect_refused("true; GRUB_CMDLINE_LINUX=\"a\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "used in a form other than");
  expect_refused("GRUB_CMDLINE_LINUX=\"a\"; GRUB_CMDLINE_LINUX=\"b\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "more after the value");
  expect_refused("GRUB_CMDLINE_LINUX=\"a\"#b\n", "GRUB_CMDLINE_LINUX", 1, "more after the value");
  expect_refused("USE_KDUMP=a*b\n", "USE_KDUMP", 1, "unquoted value with '*'");
  expect_refused("cat <<EOF\nGRUB_CMDLINE_LINUX=\"x\"\nEOF\n", "GRUB_CMDLINE_LINUX", 1,
                 "here-document");
}

TEST(ShellVarRefuses, NulBytesControlsLongLinesAndLargeFiles) {
  using namespace std::string_literals;
  expect_refused("A=1\nGRUB_CMDLINE_LINUX=\"a\0b\"\n"s, "GRUB_CMDLINE_LINUX", 2, "NUL byte");
  expect_refused("A=1\n#" + std::string(kMaxConfigLine, 'x') + "\nGRUB_CMDLINE_LINUX=\"\"\n",
                 "GRUB_CMDLINE_LINUX", 2, "line of 4097 bytes");
  expect_refused("GRUB_CMDLINE_LINUX=\"a\x1b[2Jb\"\n", "GRUB_CMDLINE_LINUX", 1,
                 "control character");
  std::string big = "GRUB_CMDLINE_LINUX=\"\"\n";
  while (big.size() <= kMaxConfigBytes) big += "# " + std::string(100, 'x') + "\n";
  auto r = get_shell_var(big, "GRUB_CMDLINE_LINUX", kFile);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("more than the 1048576 a configuration file may have"),
            std::string::npos)
      << r.error().what();
}

TEST(ShellVarRefuses, ValuesThatCannotBeWrittenExactly) {
  for (const std::string v : {"a\"b", "a\\b", "$(reboot)", "`x`", "a\nb"}) {
    auto r = set_shell_var("GRUB_CMDLINE_LINUX=\"\"\n", "GRUB_CMDLINE_LINUX", v, kFile);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << v;
  }
  auto r = set_shell_var("GRUB_CMDLINE_LINUX='x'\n", "GRUB_CMDLINE_LINUX", "it's", kFile);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("single quote inside the value"), std::string::npos);
}

Result<std::string> directive(const std::string& text, const std::string& d, const std::string& v) {
  return set_directive(text, d, v, "/etc/kdump.conf");
}

TEST(Directive, ReplacesOrAppends) {
  const std::string in = "path /var/crash\n#failure_action shell\nfailure_action shell\n"
                         "failure_actions_x 1\n";
  EXPECT_EQ(*directive(in, "failure_action", "reboot"),
            "path /var/crash\n#failure_action shell\nfailure_action reboot\n"
            "failure_actions_x 1\n");
  EXPECT_EQ(*directive(in, "final_action", "reboot"), in + "final_action reboot\n");
  const std::string same = "  failure_action reboot";
  EXPECT_EQ(*directive(same, "failure_action", "reboot"), same);
}

TEST(DirectiveRefuses, DuplicatesContinuationsAndNul) {
  using namespace std::string_literals;
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : {
           Case{"failure_action shell\nfinal_action reboot\nfailure_action halt\n",
                "/etc/kdump.conf:3: failure_action is given again (first on line 1)"},
           Case{"core_collector makedumpfile \\\n  -l -d 31\n",
                "/etc/kdump.conf:1: backslash continuation line"},
           Case{"path /var/crash\0\nfailure_action shell\n"s, "/etc/kdump.conf:1: NUL byte"},
       }) {
    auto r = directive(c.text, "failure_action", "reboot");
    ASSERT_FALSE(r) << *r;
    EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
    EXPECT_EQ(r.error().what().rfind(c.expected, 0), 0u) << r.error().what();
  }
}

TEST(Params, MergeReplacesKeysAndRemovesTokens) {
  EXPECT_EQ(merge_params("quiet nr_cpus=4 a=b", {"nr_cpus=1", "irqpoll"}, {"a=b"}),
            "quiet nr_cpus=1 irqpoll");
  EXPECT_EQ(merge_params("", {"x"}, {}), "x");
  EXPECT_EQ(merge_params("$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M",
                         {"crashkernel=512M-:96M"}, {}),
            "$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=512M-:96M");
}

TEST(Diff, UnifiedHunks) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) before += "line" + std::to_string(i) + "\n";
  after = before;
  after.replace(after.find("line10\n"), 7, "LINE10\n");
  EXPECT_EQ(unified_diff(before, after, "/etc/x"), "--- a/etc/x\n+++ b/etc/x\n"
                                                   "@@ -7,7 +7,7 @@\n"
                                                   " line7\n line8\n line9\n"
                                                   "-line10\n+LINE10\n"
                                                   " line11\n line12\n line13\n");
  EXPECT_EQ(unified_diff(before, before, "/etc/x"), "");
  EXPECT_EQ(unified_diff(std::nullopt, "a\n", "/etc/new"),
            "--- /dev/null\n+++ b/etc/new\n@@ -0,0 +1,1 @@\n+a\n");
  EXPECT_EQ(unified_diff(std::string("a"), "a\nb\n", "/f"),
            "--- a/f\n+++ b/f\n@@ -1,1 +1,2 @@\n-a\n\\ No newline at end of file\n+a\n+b\n");
}

TEST(Diff, TwoDistantChangesMakeTwoHunks) {
  std::string before;
  for (int i = 1; i <= 30; ++i) before += std::to_string(i) + "\n";
  std::string after = before;
  after.replace(0, 2, "one\n");
  after += "31\n";
  const std::string d = unified_diff(before, after, "/f");
  EXPECT_NE(d.find("@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n"), std::string::npos) << d;
  EXPECT_NE(d.find("@@ -28,3 +28,4 @@\n 28\n 29\n 30\n+31\n"), std::string::npos) << d;
}

TEST(Diff, OneEditInALargeFileIsCheap) {
  // 100000 lines: a full longest-common-subsequence table would need 40 GB; only the changed
  // middle goes through it.
  std::string before;
  for (int i = 0; i < 100000; ++i) before += "# " + std::to_string(i) + "\n";
  std::string after = before;
  after.replace(after.find("# 50000\n"), 8, "X=1\n");
  EXPECT_EQ(unified_diff(before, after, "/f"), "--- a/f\n+++ b/f\n@@ -49998,7 +49998,7 @@\n"
                                               " # 49997\n # 49998\n # 49999\n-# 50000\n+X=1\n"
                                               " # 50001\n # 50002\n # 50003\n");
}

} // namespace
} // namespace guestdump::guest
