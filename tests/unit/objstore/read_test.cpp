// The read side of S3Client against the scripted server: ListObjectsV2 pages followed by their
// continuation tokens, replies refused when garbled or out of bounds, ranged GETs checked
// against their Content-Range, downloads that leave nothing behind on a mismatch, and the block
// cache of RemoteObject.

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "guestdump/objstore/remote_object.h"
#include "guestdump/objstore/s3_client.h"
#include "s3_list.h"
#include "s3_request.h"
#include "scripted_http_server.h"
#include "temp_dir.h"

namespace guestdump::objstore {
namespace {

using test::ScriptedHttpServer;
using Request = ScriptedHttpServer::Request;
using Reply = ScriptedHttpServer::Reply;

std::map<std::string, std::string> query_of(const std::string& target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::stringstream rest(target.substr(q + 1));
  std::string item;
  while (std::getline(rest, item, '&')) {
    auto eq = item.find('=');
    out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
  }
  return out;
}

std::string key_name(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "p/h%02d/u/20260101T0000%02dZ/meta.json", i / 100, i % 100);
  return buf;
}

std::string page_xml(int from, int to, const std::string& next) {
  std::string xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><Prefix>p/</Prefix>";
  xml += "<KeyCount>" + std::to_string(to - from) + "</KeyCount>";
  xml += "<IsTruncated>" + std::string(next.empty() ? "false" : "true") + "</IsTruncated>";
  if (!next.empty()) xml += "<NextContinuationToken>" + next + "</NextContinuationToken>";
  for (int i = from; i < to; ++i) {
    xml += "<Contents><Key>" + key_name(i) + "</Key><Size>" + std::to_string(i) +
           "</Size><ETag>&quot;e&quot;</ETag></Contents>";
  }
  return xml + "</ListBucketResult>";
}

// An object of `size` bytes served with ranges honoured the way S3 does (206 + Content-Range).
std::string content_of(std::size_t size) {
  std::string s;
  for (std::size_t i = 0; i < size; ++i) s.push_back(static_cast<char>((i * 131 + i / 977) & 0xff));
  return s;
}

Reply serve_range(const Request& r, const std::string& body) {
  auto range = r.header("Range");
  if (range.empty()) return {200, {}, body, false};
  std::uint64_t first = 0, last = 0;
  std::sscanf(range.c_str(), "bytes=%lu-%lu", &first, &last);
  last = std::min<std::uint64_t>(last, body.size() - 1);
  return {206,
          {{"Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
                                 std::to_string(body.size())}},
          body.substr(first, last - first + 1),
          false};
}

struct S3Read : ::testing::Test {
  std::function<Reply(const Request&)> handler;
  ScriptedHttpServer server{[this](const Request& r) { return handler(r); }};
  test::TempDir dir;

  S3Client client() {
    S3Config config;
    config.endpoint = server.url();
    config.region = "us-east-1";
    config.credentials = {"AKID", "secret", ""};
    return S3Client(config);
  }
};

TEST_F(S3Read, ListFollowsContinuationTokensAcrossThreePages) {
  handler = [](const Request& r) -> Reply {
    auto q = query_of(r.target);
    if (q["list-type"] != "2" || q["prefix"] != "p%2F" || q["max-keys"] != "1000") {
      return {400, {}, "<Error><Code>Unscripted</Code></Error>", false};
    }
    if (!q.contains("continuation-token")) return {200, {}, page_xml(0, 1000, "tok1"), false};
    if (q["continuation-token"] == "tok1") return {200, {}, page_xml(1000, 2000, "tok2"), false};
    if (q["continuation-token"] == "tok2") return {200, {}, page_xml(2000, 2345, ""), false};
    return {400, {}, "<Error><Code>BadToken</Code></Error>", false};
  };
  auto c = client();
  auto listed = c.list_objects("b", "p/");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2345u);
  for (int i = 0; i < 2345; i += 97) {
    EXPECT_EQ((*listed)[static_cast<std::size_t>(i)].key, key_name(i));
    EXPECT_EQ((*listed)[static_cast<std::size_t>(i)].size, static_cast<std::uint64_t>(i));
  }
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(c.read_stats().requests, 3u);
  // A bound on the total is an error, not a short listing.
  auto bounded = c.list_objects("b", "p/", 1500);
  ASSERT_FALSE(bounded);
  EXPECT_NE(bounded.error().message.find("more than 1500 keys"), std::string::npos);
}

TEST_F(S3Read, GarbledOrTruncatedListingIsRefused) {
  const std::string good = page_xml(0, 3, "");
  std::string reply;
  handler = [&](const Request&) -> Reply { return {200, {}, reply, false}; };
  auto expect_refused = [&](const std::string& body, const std::string& why) {
    reply = body;
    auto listed = client().list_objects("b", "p/");
    ASSERT_FALSE(listed) << "accepted: " << body.substr(0, 80);
    EXPECT_NE(listed.error().message.find(why), std::string::npos) << listed.error().message;
    EXPECT_NE(listed.error().message.find("list 's3://b/p/'"), std::string::npos);
  };
  expect_refused(good.substr(0, good.size() / 2), "not well-formed XML");
  expect_refused("garbage\x01\x02", "not well-formed XML");
  expect_refused("<Other/>", "not ListBucketResult");
  expect_refused("<ListBucketResult><Contents><Key>p/a</Key><Size>x1</Size></Contents>"
                 "<IsTruncated>false</IsTruncated></ListBucketResult>",
                 "Size is not a number");
  expect_refused("<ListBucketResult><Contents><Key>p/" + std::string(2000, 'k') +
                     "</Key><Size>1</Size></Contents><IsTruncated>false</IsTruncated>"
                     "</ListBucketResult>",
                 "longer than 1024");
  expect_refused("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                 "without a NextContinuationToken");
  expect_refused("<ListBucketResult><Contents><Key>q/x</Key><Size>1</Size></Contents>"
                 "<IsTruncated>false</IsTruncated></ListBucketResult>",
                 "outside the prefix");
  // A server that hands out the same token forever is stopped.
  reply = page_xml(0, 1, "again");
  auto looping = client().list_objects("b", "p/");
  ASSERT_FALSE(looping);
  EXPECT_NE(looping.error().message.find("repeated a continuation token"), std::string::npos);
}

TEST_F(S3Read, RangeRepliesAreCheckedAgainstTheRangeAskedFor) {
  const std::string body = content_of(10000);
  std::optional<Reply> override_reply;
  handler = [&](const Request& r) -> Reply {
    if (override_reply) return *override_reply;
    return serve_range(r, body);
  };
  auto c = client();
  auto got = c.get_range("b", "k", 1234, 4000);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, body.substr(1234, 4000));
  EXPECT_EQ(server.requests().back().header("Range"), "bytes=1234-5233");

  auto refused = [&](Reply r, const std::string& why) {
    override_reply = std::move(r);
    auto bad = c.get_range("b", "k", 0, 100);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find(why), std::string::npos) << bad.error().message;
    EXPECT_NE(bad.error().message.find("s3://b/k"), std::string::npos);
  };
  refused({206, {{"Content-Range", "bytes 1-100/10000"}}, std::string(100, 'x'), false},
          "not the range asked for");
  refused({206, {}, std::string(100, 'x'), false}, "not the range asked for");
  refused({206, {{"Content-Range", "bytes 0-99/10000"}}, std::string(60, 'x'), false},
          "60 bytes in the reply");
  refused({200, {}, std::string(100, 'x'), false}, "instead of 206");
  // A server ignoring Range and sending the whole object is cut off at the range's length.
  refused({200, {}, body, false}, "reply larger than 100 bytes");
  EXPECT_FALSE(c.get_range("b", "k", 0, std::uint64_t{65} << 20));
}

TEST_F(S3Read, HeadReadsSizeAndChecksum) {
  const std::string sha(64, 'a');
  handler = [&](const Request& r) -> Reply {
    if (r.target == "/b/k")
      return {200, {{"x-amz-meta-sha256", sha}}, std::string(777, 'x'), false};
    if (r.target == "/b/odd") {
      return {200, {{"x-amz-meta-sha256", "not-hex\x1b[31m"}}, "abc", false};
    }
    return {404, {}, "<Error><Code>NoSuchKey</Code></Error>", false};
  };
  auto c = client();
  auto info = c.head_object("b", "k");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->size, 777u);
  EXPECT_EQ(info->sha256, sha);
  auto odd = c.head_object("b", "odd");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->sha256, ""); // not 64 hex digits: not believed
  auto missing = c.head_object("b", "none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(S3Read, DownloadChecksAndRenamesOnlyWhenComplete) {
  const std::string body = content_of(300000);
  handler = [&](const Request& r) -> Reply { return serve_range(r, body); };
  auto c = client();
  const std::string sha = detail::sha256_hex(std::as_bytes(std::span(body.data(), body.size())));
  const std::string path = dir.file("vmcore");
  auto got = c.download_object("b", "k", path, sha);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->sha256, sha);
  EXPECT_EQ(got->bytes, body.size());
  std::ifstream in(path, std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(back, body);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const std::string other = dir.file("other");
  auto bad = c.download_object("b", "k", other, std::string(64, '0'));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("SHA-256"), std::string::npos);
  EXPECT_NE(bad.error().message.find("s3://b/k"), std::string::npos);
  // Neither the target nor a temporary file is left.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    entries += e.path().filename() != "vmcore";
  }
  EXPECT_EQ(entries, 0);
}

TEST_F(S3Read, RemoteObjectReadsThroughABoundedBlockCache) {
  const std::string body = content_of(100000);
  handler = [&](const Request& r) -> Reply {
    if (r.method == "HEAD") return {200, {}, body, false};
    return serve_range(r, body);
  };
  auto c = client();
  BlockCacheOptions cache;
  cache.block_size = 4096;
  cache.max_blocks = 4;
  auto object = RemoteObject::open(c, "b", "k", cache);
  ASSERT_TRUE(object) << object.error().message;
  EXPECT_EQ((*object)->size(), body.size());
  std::vector<std::byte> out(5000);
  ASSERT_TRUE((*object)->read(4000, out)); // spans blocks 0, 1 and 2
  EXPECT_EQ(std::memcmp(out.data(), body.data() + 4000, out.size()), 0);
  EXPECT_EQ(c.read_stats().requests, 4u); // HEAD + 3 blocks
  EXPECT_EQ(c.read_stats().bytes, 3u * 4096);
  ASSERT_TRUE((*object)->read(4100, std::span(out).first(100))); // cached
  EXPECT_EQ(c.read_stats().requests, 4u);
  // The last block is short; reading up to the end works, past it fails.
  ASSERT_TRUE((*object)->read(body.size() - 10, std::span(out).first(10)));
  EXPECT_EQ(std::memcmp(out.data(), body.data() + body.size() - 10, 10), 0);
  EXPECT_FALSE((*object)->read(body.size() - 10, std::span(out).first(11)));
  // Four blocks at most: block 0 was evicted by now and is fetched again.
  const auto before = c.read_stats().requests;
  ASSERT_TRUE((*object)->read(8192 * 4, std::span(out).first(10)));
  ASSERT_TRUE((*object)->read(0, std::span(out).first(10)));
  EXPECT_EQ(c.read_stats().requests, before + 2);
}

} // namespace
} // namespace guestdump::objstore
