// The upload state machine against a scripted S3 server (a small in-memory S3 on the loopback
// address that checks each body's x-amz-content-sha256 like RGW does): one PUT for small files,
// parallel parts, retry with backoff, abort, and resume from the state file after a cut.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "guestdump/objstore/dump_upload.h"
#include "guestdump/objstore/s3_client.h"
#include "guestdump/store/dump_store.h"
#include "s3_request.h"
#include "scripted_http_server.h"
#include "temp_dir.h"

namespace guestdump::objstore {
namespace {

using test::ScriptedHttpServer;
using Request = ScriptedHttpServer::Request;
using Reply = ScriptedHttpServer::Reply;

std::string sha256(const std::string& s) {
  return detail::sha256_hex(std::as_bytes(std::span(s.data(), s.size())));
}

Reply error_reply(int status, const std::string& code) {
  return {status, {}, "<Error><Code>" + code + "</Code><Message>scripted</Message></Error>", false};
}

// Query parameters of a request target, decoded no further than S3 clients need here.
std::map<std::string, std::string> query_of(const std::string& target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::string rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string item = rest.substr(0, amp);
    auto eq = item.find('=');
    out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
  }
  return out;
}

class FakeS3 {
public:
  struct Upload {
    std::string key, sha256_meta;
    std::map<int, std::pair<std::string, std::string>> parts; // number → ETag, body
  };
  struct Object {
    std::string body, sha256_meta;
  };
  /// Runs first on every request; a reply it returns is sent instead.
  std::function<std::optional<Reply>(const Request&)> inject;

  Reply handle(const Request& r) {
    if (inject) {
      if (auto injected = inject(r)) return *injected;
    }
    return serve(r);
  }

  /// The store itself, without the injection.
  Reply serve(const Request& r) {
    std::lock_guard lock(mutex_);
    if (r.header("x-amz-content-sha256") != sha256(r.body)) {
      return error_reply(400, "XAmzContentSHA256Mismatch");
    }
    auto query = query_of(r.target);
    std::string path = r.target.substr(0, r.target.find('?'));
    std::string key = path.substr(path.find('/', 1) + 1); // after "/bucket/"
    if (r.method == "POST" && query.contains("uploads")) {
      std::string id = "upload-" + std::to_string(++creates);
      uploads[id] = {key, r.header("x-amz-meta-sha256"), {}};
      return {200,
              {},
              "<InitiateMultipartUploadResult><UploadId>" + id +
                  "</UploadId></InitiateMultipartUploadResult>",
              false};
    }
    if (r.method == "GET" && query.contains("uploads")) {
      std::string xml = "<ListMultipartUploadsResult>";
      for (const auto& [id, u] : uploads) {
        xml += "<Upload><Key>" + u.key + "</Key><UploadId>" + id + "</UploadId></Upload>";
      }
      return {200, {}, xml + "</ListMultipartUploadsResult>", false};
    }
    if (query.contains("uploadId")) {
      auto it = uploads.find(query["uploadId"]);
      if (it == uploads.end()) return error_reply(404, "NoSuchUpload");
      if (r.method == "PUT") {
        int n = std::stoi(query["partNumber"]);
        std::string etag = "\"" + sha256(r.body).substr(0, 32) + "\"";
        it->second.parts[n] = {etag, r.body};
        ++part_puts[n];
        return {200, {{"ETag", etag}}, "", false};
      }
      if (r.method == "DELETE") {
        uploads.erase(it);
        ++aborts;
        return {204, {}, "", false};
      }
      if (r.method == "POST") {
        std::string body;
        int last = 0;
        for (auto& part : detail::xml_records(r.body, "CompleteMultipartUpload/Part")) {
          int n = std::stoi(part["PartNumber"]);
          auto p = it->second.parts.find(n);
          if (n <= last || p == it->second.parts.end() || p->second.first != part["ETag"]) {
            return error_reply(400, "InvalidPart");
          }
          last = n;
          body += p->second.second;
        }
        objects[it->second.key] = {body, it->second.sha256_meta};
        uploads.erase(it);
        return {200, {}, "<CompleteMultipartUploadResult/>", false};
      }
    }
    if (r.method == "PUT") {
      objects[key] = {r.body, r.header("x-amz-meta-sha256")};
      return {200, {{"ETag", "\"x\""}}, "", false};
    }
    if (r.method == "HEAD") {
      auto it = objects.find(key);
      if (it == objects.end()) return error_reply(404, "NoSuchKey");
      // The scripted server sends Content-Length of the body but not the body for HEAD.
      return {200, {{"x-amz-meta-sha256", it->second.sha256_meta}}, it->second.body, false};
    }
    return error_reply(400, "Unscripted");
  }

  std::mutex mutex_;
  std::map<std::string, Upload> uploads;
  std::map<std::string, Object> objects;
  std::map<int, int> part_puts;
  int creates = 0;
  int aborts = 0;
};

struct Multipart : ::testing::Test {
  FakeS3 s3;
  ScriptedHttpServer server{[this](const Request& r) { return s3.handle(r); }};
  test::TempDir dir;
  std::string file = dir.file("vmcore");
  std::string state = dir.file(".vmcore.upload");
  std::string content;
  UploadOptions options;

  S3Client client() {
    S3Config config;
    config.endpoint = server.url();
    config.region = "us-east-1";
    config.credentials = {"AKID", "secret", ""};
    return S3Client(config);
  }
  void write_file(std::size_t size) {
    content.clear();
    for (std::size_t i = 0; i < size; ++i) content.push_back(static_cast<char>('a' + (i * 7) % 26));
    std::ofstream(file, std::ios::binary) << content;
  }
  void SetUp() override {
    options.part_size = 1000;
    options.parallel = 4;
    options.attempts = 3;
    options.backoff = std::chrono::milliseconds(20);
    options.cancelled = [] { return false; };
    write_file(9500); // 10 parts, the last 500 bytes
  }
  int part_requests(int n) {
    int count = 0;
    for (const auto& r : server.requests()) {
      count += r.method == "PUT" && query_of(r.target)["partNumber"] == std::to_string(n);
    }
    return count;
  }
  int count(const std::string& method, const std::string& query_key) {
    int n = 0;
    for (const auto& r : server.requests()) {
      if (r.method == method && query_of(r.target).contains(query_key)) ++n;
    }
    return n;
  }
};

TEST_F(Multipart, SmallFileGoesInOnePut) {
  write_file(800);
  auto up = client().upload_file(file, "dumps", "h/u/t/vmcore", state, options);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->parts, 0u);
  EXPECT_EQ(up->sha256, sha256(content));
  EXPECT_EQ(s3.objects["h/u/t/vmcore"].body, content);
  EXPECT_EQ(s3.objects["h/u/t/vmcore"].sha256_meta, sha256(content));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(Multipart, PartsGoInParallelAndAssemble) {
  std::atomic<int> in_flight{0}, most{0};
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "PUT" && query_of(r.target).contains("partNumber")) {
      int now = ++in_flight;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --in_flight;
    }
    return std::nullopt;
  };
  auto up = client().upload_file(file, "dumps", "h/u/t/vmcore", state, options);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->parts, 10u);
  EXPECT_EQ(up->bytes, 9500u);
  EXPECT_EQ(s3.objects["h/u/t/vmcore"].body, content);
  EXPECT_EQ(s3.objects["h/u/t/vmcore"].sha256_meta, sha256(content));
  EXPECT_GT(most.load(), 1);
  EXPECT_LE(most.load(), 4);
  EXPECT_EQ(s3.creates, 1);
  EXPECT_TRUE(s3.uploads.empty());
  EXPECT_FALSE(std::filesystem::exists(state));
}

TEST_F(Multipart, SendRateIsLimited) {
  write_file(120000);
  options.part_size = 1 << 20; // one PUT
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(client().upload_file(file, "dumps", "fast", state, options));
  const auto unlimited = std::chrono::steady_clock::now() - t0;
  options.max_bytes_per_second = 60000; // 120000 bytes: about 2 s
  const auto t1 = std::chrono::steady_clock::now();
  auto up = client().upload_file(file, "dumps", "slow", state, options);
  const auto limited = std::chrono::steady_clock::now() - t1;
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(s3.objects["slow"].body, content);
  EXPECT_LT(unlimited, std::chrono::milliseconds(800));
  EXPECT_GE(limited, std::chrono::milliseconds(1000));
}

TEST_F(Multipart, CancelAbortsARunningPartAndKeepsTheState) {
  write_file(120000);
  options.part_size = 60000; // two parts, each about 3 s at this rate
  options.parallel = 1;
  options.max_bytes_per_second = 20000;
  std::atomic<bool> stop{false};
  options.cancelled = [&] { return stop.load(); };
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto up = client().upload_file(file, "dumps", "k", state, options);
  const auto took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, ErrorCode::kCancelled) << up.error().message;
  EXPECT_LT(took, std::chrono::milliseconds(2000)); // not the 3 s of the part in flight
  EXPECT_TRUE(std::filesystem::exists(state));
  EXPECT_EQ(s3.uploads.size(), 1u); // kept open for the resume
}

TEST_F(Multipart, FailedPartIsRetriedWithBackoff) {
  std::vector<std::chrono::steady_clock::time_point> part3;
  std::mutex m;
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    auto q = query_of(r.target);
    if (r.method == "PUT" && q["partNumber"] == "3") {
      std::lock_guard lock(m);
      part3.push_back(std::chrono::steady_clock::now());
      if (part3.size() <= 2) return error_reply(500, "InternalError");
    }
    return std::nullopt;
  };
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_TRUE(up) << up.error().message;
  ASSERT_EQ(part3.size(), 3u);
  EXPECT_GE(part3[1] - part3[0], std::chrono::milliseconds(20));
  EXPECT_GE(part3[2] - part3[1], std::chrono::milliseconds(40)); // doubled
  EXPECT_EQ(s3.objects["k"].body, content);
  EXPECT_EQ(s3.aborts, 0);
}

TEST_F(Multipart, DroppedConnectionIsRetried) {
  std::atomic<int> drops{0};
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "PUT" && query_of(r.target)["partNumber"] == "5" && drops++ == 0) {
      Reply reply;
      reply.drop = true;
      return reply;
    }
    return std::nullopt;
  };
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(s3.objects["k"].body, content);
  EXPECT_EQ(s3.part_puts[5], 1); // the dropped one never reached the store
}

TEST_F(Multipart, PartThatKeepsFailingAbortsTheUpload) {
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "PUT" && query_of(r.target)["partNumber"] == "2") {
      return error_reply(503, "SlowDown");
    }
    return std::nullopt;
  };
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().message,
            "upload '" + file + "' to 's3://dumps/k': part 2: PUT '" + server.url() +
                "/dumps/k?partNumber=2&uploadId=upload-1': HTTP 503 SlowDown: scripted (after 3 "
                "attempts)");
  EXPECT_EQ(part_requests(2), 3);
  EXPECT_EQ(count("DELETE", "uploadId"), 1);
  EXPECT_TRUE(s3.uploads.empty());
  EXPECT_FALSE(s3.objects.contains("k"));
  EXPECT_FALSE(std::filesystem::exists(state));
}

TEST_F(Multipart, RefusedPartIsNotRetried) {
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "PUT" && query_of(r.target)["partNumber"] == "1") {
      return error_reply(403, "AccessDenied");
    }
    return std::nullopt;
  };
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("HTTP 403 AccessDenied"), std::string::npos);
  EXPECT_EQ(up.error().message.find("attempts"), std::string::npos);
  EXPECT_EQ(part_requests(1), 1);
  EXPECT_TRUE(s3.uploads.empty());
}

TEST_F(Multipart, CutShortUploadResumesFromItsState) {
  // First run: "shut down" once four parts are stored.
  std::atomic<bool> stop{false};
  options.cancelled = [&] { return stop.load(); };
  options.parallel = 2;
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "PUT" && query_of(r.target).contains("partNumber")) {
      std::lock_guard lock(s3.mutex_);
      if (s3.part_puts.size() >= 4) stop = true;
    }
    return std::nullopt;
  };
  auto first = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, ErrorCode::kCancelled);
  ASSERT_TRUE(std::filesystem::exists(state));
  EXPECT_EQ(s3.uploads.size(), 1u);
  const std::size_t stored = s3.uploads.begin()->second.parts.size();
  EXPECT_GE(stored, 4u);
  EXPECT_LT(stored, 10u);

  // Second run (a restarted daemon): no new upload, only the missing parts, then complete.
  s3.inject = nullptr;
  options.cancelled = [] { return false; };
  const auto before = server.requests().size();
  auto second = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(s3.creates, 1);
  int puts = 0;
  auto all = server.requests();
  for (std::size_t i = before; i < all.size(); ++i) {
    puts += all[i].method == "PUT" && query_of(all[i].target).contains("partNumber");
  }
  EXPECT_LE(static_cast<std::size_t>(puts), 10 - stored + 2); // + parts in flight at the cut
  EXPECT_EQ(s3.objects["k"].body, content);
  EXPECT_EQ(s3.objects["k"].sha256_meta, sha256(content));
  EXPECT_TRUE(s3.uploads.empty());
  EXPECT_FALSE(std::filesystem::exists(state));
}

TEST_F(Multipart, ResumeOfAVanishedUploadStartsAgain) {
  std::atomic<bool> stop{false};
  options.cancelled = [&] { return stop.load(); };
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "PUT" && query_of(r.target).contains("partNumber")) stop = true;
    return std::nullopt;
  };
  ASSERT_FALSE(client().upload_file(file, "dumps", "k", state, options));
  ASSERT_TRUE(std::filesystem::exists(state));
  s3.uploads.clear(); // expired by a lifecycle rule
  s3.inject = nullptr;
  options.cancelled = [] { return false; };
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(s3.creates, 2);
  EXPECT_EQ(s3.objects["k"].body, content);
  EXPECT_TRUE(s3.uploads.empty());
}

TEST_F(Multipart, CompletionWhoseReplyWasLostIsConfirmedByTheObject) {
  std::atomic<int> completes{0};
  s3.inject = [&](const Request& r) -> std::optional<Reply> {
    if (r.method == "POST" && query_of(r.target).contains("uploadId") && completes++ == 0) {
      s3.serve(r); // the server completes it, and the reply is lost
      Reply lost;
      lost.drop = true;
      return lost;
    }
    return std::nullopt;
  };
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(completes.load(), 2);
  EXPECT_EQ(s3.objects["k"].body, content);
  EXPECT_EQ(s3.aborts, 0);
  EXPECT_FALSE(std::filesystem::exists(state));
}

TEST_F(Multipart, StateOfAnotherFileIsAbortedNotResumed) {
  std::ofstream(state) << R"({"version":1,"bucket":"dumps","key":"k","upload_id":"old",)"
                       << R"("sha256":"x","size":1,"mtime_ns":1,"part_size":1000,"parts":[]})";
  s3.uploads["old"] = {"k", "", {}};
  auto up = client().upload_file(file, "dumps", "k", state, options);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(s3.aborts, 1);
  EXPECT_EQ(s3.objects["k"].body, content);
  EXPECT_TRUE(s3.uploads.empty());
}

TEST(DumpKeyPrefix, KeepsGuestTextToOneLevel) {
  store::DumpMeta meta;
  meta.host = "../evil/x";
  meta.uuid = "";
  EXPECT_EQ(dump_key_prefix({"b", "fleet/eu"}, meta, "20261203T101010Z"),
            "fleet/eu/.._evil_x/unknown/20261203T101010Z/");
  meta.host = "..";
  meta.uuid = "0b6e-4f";
  EXPECT_EQ(dump_key_prefix({"b", ""}, meta, "t"), "unknown/0b6e-4f/t/");
}

TEST_F(Multipart, DumpGoesUnderItsPrefixWithChecksumsInMeta) {
  const std::string dump = dir.file("20261203T101010Z");
  std::filesystem::create_directory(dump);
  std::filesystem::rename(file, dump + "/vmcore");
  std::ofstream(dump + "/dmesg.txt") << "Kernel panic\n";
  store::DumpMeta meta;
  meta.tool = "guestdump";
  meta.host = "hv1";
  meta.uuid = "u-1";
  std::ofstream(dump + "/meta.json") << store::meta_text(meta);

  auto url = upload_dump(client(), {"dumps", "fleet"}, dump, options);
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(*url, "s3://dumps/fleet/hv1/u-1/20261203T101010Z/");
  const std::string prefix = "fleet/hv1/u-1/20261203T101010Z/";
  EXPECT_EQ(s3.objects[prefix + "vmcore"].body, content);
  EXPECT_EQ(s3.objects[prefix + "dmesg.txt"].body, "Kernel panic\n");
  auto local = store::read_meta(dump);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->checksums["vmcore"]["sha256"], sha256(content));
  EXPECT_EQ(local->checksums["dmesg.txt"]["sha256"], sha256("Kernel panic\n"));
  EXPECT_EQ(local->upload["url"], *url);
  EXPECT_EQ(local->upload["state"], "complete");
  EXPECT_EQ(s3.objects[prefix + "meta.json"].body, store::meta_text(*local));
  // meta.json is stored last: it marks a complete remote dump.
  auto all = server.requests();
  ASSERT_FALSE(all.empty());
  EXPECT_NE(all.back().target.find("meta.json"), std::string::npos);
  EXPECT_EQ(s3.objects[prefix + "meta.json"].body.find("secret"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dump + "/.vmcore.upload"));
}

} // namespace
} // namespace guestdump::objstore
