#include "guestdump/guest/upload.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "guestdump/store/dump_store.h"
#include "temp_dir.h"

namespace guestdump::guest {
namespace {

TEST(UploadTarget, S3UrlsFollowObjstoreRules) {
  auto t = parse_upload_target("s3://dumps/fleet/a");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->kind, UploadKind::kS3);
  EXPECT_EQ(t->url, "s3://dumps/fleet/a");
  auto bad = parse_upload_target("s3://Bad_Bucket/x");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not a valid S3 bucket name"), std::string::npos);
}

TEST(UploadTarget, SshUrlsSplit) {
  auto t = parse_upload_target("ssh://dumper@backup.example.org:2222/srv/dumps/");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->kind, UploadKind::kSsh);
  EXPECT_EQ(t->ssh.user, "dumper");
  EXPECT_EQ(t->ssh.host, "backup.example.org");
  EXPECT_EQ(t->ssh.port, 2222u);
  EXPECT_EQ(t->ssh.path, "/srv/dumps");
  EXPECT_EQ(t->url, "ssh://dumper@backup.example.org:2222/srv/dumps");

  auto plain = parse_upload_target("ssh://10.0.0.5/var/dumps");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->ssh.user, "");
  EXPECT_EQ(plain->ssh.port, 0u);
  EXPECT_EQ(plain->url, "ssh://10.0.0.5/var/dumps");

  auto v6 = parse_upload_target("ssh://root@[fd00::1]:22/d");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->ssh.host, "fd00::1");
  EXPECT_EQ(v6->ssh.port, 22u);
  EXPECT_EQ(v6->url, "ssh://root@[fd00::1]:22/d");
}

TEST(UploadTarget, SshUrlsThatCouldInjectAreRefused) {
  for (const char* url : {"ssh://-oProxyCommand=x@host/d", // an ssh option as the user
                          "ssh://-oProxyCommand=x/d",      // ... or as the host
                          "ssh://us er@host/d",
                          "ssh://user@ho$t/d",
                          "ssh://user@host/d ir",
                          "ssh://user@host/d\"x",
                          "ssh://user@host/d'x",
                          "ssh://user@host/d*",
                          "ssh://user@host/d;rm",
                          "ssh://user@host/$(x)",
                          "ssh://user@host/d\\x",
                          "ssh://user@host/", // the root
                          "ssh://user@host",  // no path
                          "ssh://user@host:0/d",
                          "ssh://user@host:70000/d",
                          "ssh://user@host:/d",
                          "ssh://user@host:22x/d",
                          "ssh://user@[fd00::1/d",
                          "ssh://user@[not-v6]/d",
                          "ssh://@host/d",
                          "ftp://host/d",
                          "/var/crash",
                          ""}) {
    auto t = parse_upload_target(url);
    EXPECT_FALSE(t) << url;
    if (!t) {
      const std::string& m = t.error().message;
      EXPECT_TRUE(m.starts_with("upload target '") || m.starts_with("store URL '")) << m;
    }
  }
}

TEST(UploadSettings, ReadFromTheDefaultsFile) {
  UploadSettings s;
  ASSERT_TRUE(apply_upload_defaults(s,
                                    "# kernel hook\nGUESTDUMP_TARGET_DEVICE=\"LABEL=d\"\n"
                                    "GUESTDUMP_UPLOAD=\"ssh://u@h/srv/d\"\n"
                                    "GUESTDUMP_SSH_KEY=/etc/guestdump/id_ed25519\n"
                                    "GUESTDUMP_SSH_KNOWN_HOSTS='/etc/guestdump/known_hosts'\n"
                                    "GUESTDUMP_KEEP_LOCAL=2\n"
                                    "#GUESTDUMP_DUMP_DIR=/nope\n",
                                    "/etc/default/guestdump-guest"));
  EXPECT_EQ(s.target, "ssh://u@h/srv/d");
  EXPECT_EQ(s.ssh_key, "/etc/guestdump/id_ed25519");
  EXPECT_EQ(s.ssh_known_hosts, "/etc/guestdump/known_hosts");
  EXPECT_EQ(s.keep_local, 2u);
  EXPECT_EQ(s.dump_dir, "/var/crash");
  EXPECT_EQ(s.metrics_file, kGuestMetricsFile);
  UploadSettings none;
  ASSERT_TRUE(apply_upload_defaults(none, "GUESTDUMP_METRICS_FILE=\n", "f"));
  EXPECT_EQ(none.metrics_file, "");

  UploadSettings all;
  ASSERT_TRUE(apply_upload_defaults(all, "GUESTDUMP_KEEP_LOCAL=all\n", "f"));
  EXPECT_FALSE(all.keep_local.has_value());
  UploadSettings bad;
  auto r = apply_upload_defaults(bad, "GUESTDUMP_KEEP_LOCAL=-1\n", "/etc/default/g");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "/etc/default/g: GUESTDUMP_KEEP_LOCAL: keep-local '-1': expected "
                               "a number of dumps or 'all'");
  // What the editor cannot read exactly is refused, naming the file and line.
  auto twice = apply_upload_defaults(bad, "GUESTDUMP_UPLOAD=a\nGUESTDUMP_UPLOAD=b\n", "f");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("f:"), std::string::npos) << twice.error().message;
}

LocalDump dump(const std::string& name, std::int64_t time, bool complete, bool uploaded) {
  LocalDump d;
  d.name = name;
  d.path = "/var/crash/" + name;
  d.time = time;
  d.complete = complete;
  d.uploaded = uploaded;
  return d;
}

std::vector<std::string> names(const std::vector<LocalDump>& v) {
  std::vector<std::string> out;
  for (const LocalDump& d : v) out.push_back(d.name);
  return out;
}

TEST(UploadPlan, OnlyCompleteNotYetUploadedDumpsGoOldestFirst) {
  const std::vector<LocalDump> dumps = {
      dump("d5", 500, true, false), dump("d4", 400, false, false), // failure record
      dump("d3", 300, true, true), dump("d1", 100, true, false), dump("d2", 200, true, false)};
  EXPECT_EQ(names(dumps_to_upload(dumps)), (std::vector<std::string>{"d1", "d2", "d5"}));
  EXPECT_TRUE(dumps_to_upload({}).empty());
}

TEST(UploadPlan, KeepLocalDeletesOnlyConfirmedUploadsBeyondTheNewest) {
  const std::vector<LocalDump> dumps = {dump("d5", 500, true, true),
                                        dump("d4", 400, false, false), // failure record: stays
                                        dump("d3", 300, true, false),  // not uploaded: stays
                                        dump("d2", 200, true, true), dump("d1", 100, true, true)};
  EXPECT_TRUE(local_deletions(dumps, std::nullopt).empty()); // "all"
  EXPECT_EQ(names(local_deletions(dumps, 0u)), (std::vector<std::string>{"d5", "d2", "d1"}));
  // keep 1: d5 stays as the newest complete dump, d3 is beyond but not uploaded.
  EXPECT_EQ(names(local_deletions(dumps, 1u)), (std::vector<std::string>{"d2", "d1"}));
  EXPECT_EQ(names(local_deletions(dumps, 2u)), (std::vector<std::string>{"d2", "d1"}));
  EXPECT_EQ(names(local_deletions(dumps, 3u)), (std::vector<std::string>{"d1"}));
  EXPECT_TRUE(local_deletions(dumps, 4u).empty());
  // Equal times: the name orders them ("-2" is the later dump of that second).
  const std::vector<LocalDump> same = {dump("20260101T000000Z", 7, true, true),
                                       dump("20260101T000000Z-2", 7, true, true)};
  EXPECT_EQ(names(local_deletions(same, 1u)), (std::vector<std::string>{"20260101T000000Z"}));
}

/// A store with dumps made by the store library, as `capture` makes them.
class UploadRun : public ::testing::Test {
protected:
  std::string make(std::int64_t t, bool complete) {
    auto st = store::DumpStore::open(dir_.path(), store::Layout::kOneGuest);
    EXPECT_TRUE(st);
    store::DumpMeta m;
    m.tool = "guestdump-guest";
    m.started_at = t;
    auto p = st->begin(m);
    EXPECT_TRUE(p) << p.error().message;
    std::ofstream(p->file("dmesg.txt")) << "log " << t << "\n";
    if (!complete) {
      auto r = p->fail(m, "disk full", {"dmesg.txt"});
      EXPECT_TRUE(r);
      return *r;
    }
    std::ofstream(p->file("vmcore")) << "core " << t << "\n";
    auto r = p->commit(m);
    EXPECT_TRUE(r);
    return *r;
  }
  test::TempDir dir_;
};

/// Records the upload the way the real uploaders do; fails for the directories in `refuse`.
class FakeUploader : public DumpUploader {
public:
  std::string describe() const override { return "fake://x"; }
  Result<std::string> upload(const std::string& d) const override {
    calls.push_back(d);
    if (refuse.count(d) != 0) return make_error(ErrorCode::kOs, "connection refused");
    auto meta = store::read_meta(d);
    if (!meta) return make_error(ErrorCode::kBadData, "no meta");
    uuids.push_back(meta->uuid);
    meta->upload = {{"url", "fake://x/" + d}, {"state", "complete"}};
    GUESTDUMP_CHECK(store::rewrite_meta(d, *meta));
    return "fake://x/" + d;
  }
  std::set<std::string> refuse;
  mutable std::vector<std::string> calls;
  mutable std::vector<std::string> uuids;
};

TEST_F(UploadRun, UploadsThenDeletesOnlyWhatWasConfirmed) {
  const std::string d1 = make(1000, true);
  const std::string d2 = make(2000, true);
  const std::string failed = make(2500, false);
  const std::string d3 = make(3000, true);
  const std::string d4 = make(4000, true);
  // An interrupted capture's leftover is never uploaded nor deleted here.
  std::filesystem::create_directory(dir_.file(".20990101T000000Z.partial"));

  FakeUploader up;
  up.refuse = {d2};
  auto out = upload_and_prune(dir_.path(), up, 1u, "0a1b2c3d-0000-4000-8000-000000000001");
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(up.calls, (std::vector<std::string>{d1, d2, d3, d4}));
  for (const std::string& u : up.uuids) EXPECT_EQ(u, "0a1b2c3d-0000-4000-8000-000000000001");
  ASSERT_EQ(out->failures.size(), 1u);
  EXPECT_NE(out->failures[0].find(d2), std::string::npos) << out->failures[0];
  EXPECT_NE(out->failures[0].find("connection refused"), std::string::npos);
  EXPECT_NE(out->failures[0].find("fake://x"), std::string::npos);
  // keep-local 1: d4 stays (newest); d3 and d1 were uploaded and go; d2 was not and stays.
  EXPECT_EQ(out->deleted, (std::vector<std::string>{d3, d1}));
  EXPECT_TRUE(std::filesystem::exists(d4 + "/vmcore"));
  EXPECT_TRUE(std::filesystem::exists(d2 + "/vmcore"));
  EXPECT_TRUE(std::filesystem::exists(failed + "/dmesg.txt"));
  EXPECT_FALSE(std::filesystem::exists(d3));
  EXPECT_FALSE(std::filesystem::exists(d1));
  EXPECT_TRUE(std::filesystem::exists(dir_.file(".20990101T000000Z.partial")));
  // For the metrics: d1, d3 and d4 went up (their files' bytes counted before any deletion);
  // d2 waits.
  EXPECT_EQ(out->backlog, 1u);
  EXPECT_GT(out->bytes, 0u);

  // A second run uploads only what is left (d2) and then lets it go too.
  up.refuse.clear();
  up.calls.clear();
  auto again = upload_and_prune(dir_.path(), up, 1u, "");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(up.calls, (std::vector<std::string>{d2}));
  EXPECT_EQ(again->deleted, (std::vector<std::string>{d2}));
  EXPECT_EQ(again->backlog, 0u);
  EXPECT_TRUE(std::filesystem::exists(d4 + "/vmcore"));
}

TEST(UploadMetrics, LastRunGaugesInTextfileFormat) {
  UploadRunMetrics m;
  m.finished_at = 1700000000;
  m.seconds = 2.5;
  m.uploaded = 3;
  m.failed = 1;
  m.deleted = 2;
  m.backlog = 1;
  m.bytes = 123456789;
  const std::string t = upload_metrics_text(m);
  for (const char* line :
       {"guestdump_guest_upload_last_run_timestamp_seconds 1700000000\n",
        "guestdump_guest_upload_last_run_seconds 2.5\n",
        "guestdump_guest_upload_last_run_dumps{outcome=\"uploaded\"} 3\n",
        "guestdump_guest_upload_last_run_dumps{outcome=\"failed\"} 1\n",
        "guestdump_guest_upload_last_run_dumps{outcome=\"deleted\"} 2\n",
        "guestdump_guest_upload_last_run_bytes 123456789\n",
        "guestdump_guest_upload_last_run_success 0\n", "guestdump_guest_upload_backlog 1\n",
        "# TYPE guestdump_guest_upload_backlog gauge\n"}) {
    EXPECT_NE(t.find(line), std::string::npos) << line << " in\n" << t;
  }
  m.failed = 0;
  EXPECT_NE(upload_metrics_text(m).find("guestdump_guest_upload_last_run_success 1\n"),
            std::string::npos);
}

TEST_F(UploadRun, NothingConfirmedNothingDeleted) {
  const std::string d1 = make(1000, true);
  const std::string d2 = make(2000, true);
  FakeUploader up;
  up.refuse = {d1, d2};
  auto out = upload_and_prune(dir_.path(), up, 0u, "");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->failures.size(), 2u);
  EXPECT_TRUE(out->deleted.empty());
  EXPECT_TRUE(std::filesystem::exists(d1 + "/vmcore"));
  EXPECT_TRUE(std::filesystem::exists(d2 + "/vmcore"));
}

TEST_F(UploadRun, AMissingDirectoryIsEmptyAndNotCreated) {
  FakeUploader up;
  auto out = upload_and_prune(dir_.file("absent"), up, 0u, "");
  ASSERT_TRUE(out);
  EXPECT_TRUE(up.calls.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_.file("absent")));
}

TEST(MachineUuid, DmiFirstThenMachineId) {
  test::TempDir root;
  EXPECT_EQ(machine_uuid(root.path()), "");
  std::filesystem::create_directories(root.file("etc"));
  std::ofstream(root.file("etc/machine-id")) << "0123456789ABCDEF0123456789abcdef\n";
  EXPECT_EQ(machine_uuid(root.path()), "01234567-89ab-cdef-0123-456789abcdef");
  std::filesystem::create_directories(root.file("sys/class/dmi/id"));
  std::ofstream(root.file("sys/class/dmi/id/product_uuid"))
      << "not-a-uuid\n"; // unusable: machine-id still
  EXPECT_EQ(machine_uuid(root.path()), "01234567-89ab-cdef-0123-456789abcdef");
  std::ofstream(root.file("sys/class/dmi/id/product_uuid"))
      << "8E5F3A10-1C2B-4D3E-9F80-A1B2C3D4E5F6\n";
  EXPECT_EQ(machine_uuid(root.path()), "8e5f3a10-1c2b-4d3e-9f80-a1b2c3d4e5f6");
}

TEST(FileSha256, KnownValue) {
  test::TempDir d;
  std::ofstream(d.file("f")) << "abc";
  auto h = file_sha256(d.file("f"));
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(file_sha256(d.file("missing")));
}

} // namespace
} // namespace guestdump::guest
