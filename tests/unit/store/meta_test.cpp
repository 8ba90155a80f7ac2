// meta.json as the store writes it: round trip, the schema version, lenient reading, and the
// writer's output for each producer validated against docs/meta.schema.json (by the same
// checker e2e.store.meta-schema runs on the files the producers wrote).

#include "guestdump/store/meta.h"

#include <fstream>

#include <gtest/gtest.h>

#include "guestdump/common/subprocess.h"
#include "temp_dir.h"

namespace guestdump::store {
namespace {

DumpMeta cli_meta() {
  DumpMeta m;
  m.tool = "guestdump";
  m.tool_version = "0.1.0";
  m.domain = "web1";
  m.uuid = "8f2c1d3e-0000-4000-8000-000000000001";
  m.host = "hv1";
  m.trigger = "manual";
  m.path = "selective";
  m.started_at = 1795000000;
  m.finished_at = 1795000004;
  m.pause_seconds = 0.25;
  m.dump_level = 31;
  m.codec = "zstd";
  m.guest_ram_bytes = 1ull << 30;
  m.vmcore_bytes = 12345;
  m.pages_dumped = 678;
  m.kernel_release = "6.1.0-27-cloud-amd64";
  m.vmcoreinfo_source = "dump note";
  m.extra["excluded"] = {{"cache", 1}, {"free", 2}};
  return m;
}

DumpMeta daemon_meta() {
  DumpMeta m = cli_meta();
  m.tool = "guestdumpd";
  m.trigger = "panic";
  m.status = "failed: interrupted";
  m.vmcore_bytes = 0;
  m.daemon = {{"uri", "qemu:///system"}, {"domain_id", 7}, {"vcpu_time_ns", 99}};
  return m;
}

DumpMeta guest_meta() {
  DumpMeta m;
  m.tool = "guestdump-guest";
  m.tool_version = "0.1.0";
  m.trigger = "kdump";
  m.path = "guest-vmcore";
  m.started_at = 1795000000;
  m.finished_at = 1795000009;
  m.dump_level = 31;
  m.codec = "lzo";
  // Guest bytes: invalid UTF-8 and a control character must still give valid JSON.
  m.kernel_release = std::string("6.1\xff\x01rel");
  m.vmcoreinfo_source = "none";
  m.extra["source"] = "/proc/vmcore";
  m.extra["device"] = "";
  m.extra["seconds"] = 9.5;
  return m;
}

TEST(Meta, RoundTripAndVersion) {
  const DumpMeta m = daemon_meta();
  const nlohmann::json j = to_json(m);
  EXPECT_EQ(j["schema"], kMetaSchemaVersion);
  EXPECT_EQ(j["tool"], "guestdumpd");
  const DumpMeta back = meta_from_json(nlohmann::json::parse(meta_text(m)));
  EXPECT_EQ(back.tool, m.tool);
  EXPECT_EQ(back.domain, m.domain);
  EXPECT_EQ(back.path, m.path);
  EXPECT_EQ(back.status, m.status);
  EXPECT_EQ(back.daemon, m.daemon);
  EXPECT_EQ(back.extra, m.extra);
}

TEST(Meta, ReadsOldAndOddFilesLeniently) {
  const DumpMeta m = meta_from_json(
      nlohmann::json{{"domain", "a"}, {"started_at", "not a number"}, {"status", "complete"}});
  EXPECT_EQ(m.domain, "a");
  EXPECT_EQ(m.started_at, 0);
  EXPECT_TRUE(m.tool.empty());
  EXPECT_TRUE(m.daemon.is_null());
}

Result<ProcessExit> check(const std::vector<std::string>& files) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   GUESTDUMP_SOURCE_DIR "/tests/support/check-meta-schema.py",
                                   GUESTDUMP_SOURCE_DIR "/docs/meta.schema.json"};
  argv.insert(argv.end(), files.begin(), files.end());
  return run_process(argv, std::chrono::seconds(60));
}

DumpMeta uploaded_meta() {
  DumpMeta m = cli_meta();
  const std::string sha(64, 'a');
  m.checksums = {{"vmcore", {{"sha256", sha}}}, {"dmesg.txt", {{"sha256", sha}}}};
  m.upload = {{"url", "s3://dumps/fleet/h1/u/20261203T101010Z/"},
              {"state", "complete"},
              {"finished_at", 1764756610}};
  return m;
}

TEST(Meta, ChecksumsAndUploadRoundTrip) {
  DumpMeta m = uploaded_meta();
  DumpMeta back = meta_from_json(to_json(m));
  EXPECT_EQ(back.checksums, m.checksums);
  EXPECT_EQ(back.upload, m.upload);
  EXPECT_FALSE(to_json(cli_meta()).contains("checksums"));
  EXPECT_FALSE(to_json(cli_meta()).contains("upload"));
}

TEST(Meta, WriterOutputMatchesTheSchema) {
  test::TempDir tmp;
  std::vector<std::string> files;
  for (const auto& [name, meta] : {std::pair<const char*, DumpMeta>{"cli", cli_meta()},
                                   {"uploaded", uploaded_meta()},
                                   {"daemon", daemon_meta()},
                                   {"guest", guest_meta()}}) {
    files.push_back(tmp.file(std::string(name) + ".json"));
    std::ofstream(files.back()) << meta_text(meta);
  }
  auto ok = check(files);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->code, 0) << "a writer's meta.json does not match docs/meta.schema.json";

  // The checker does reject: a daemon record without its crash record, an unknown tool.
  DumpMeta bad = daemon_meta();
  bad.daemon = nullptr;
  std::ofstream(tmp.file("bad1.json")) << meta_text(bad);
  bad = cli_meta();
  bad.tool = "someone-else";
  std::ofstream(tmp.file("bad2.json")) << meta_text(bad);
  bad = uploaded_meta();
  bad.checksums["vmcore"]["sha256"] = "not-hex";
  std::ofstream(tmp.file("bad3.json")) << meta_text(bad);
  for (const char* f : {"bad1.json", "bad2.json", "bad3.json"}) {
    auto r = check({tmp.file(f)});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->code, 1) << f;
  }
}

} // namespace
} // namespace guestdump::store
