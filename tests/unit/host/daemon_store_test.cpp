// guestdumpd and the store: crash marks survive a restart, retention sees what is in use, the
// post-hook gets the dump directory, the writability probe fails on a read-only directory.

#include "guestdump/host/daemon_store.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "temp_dir.h"

namespace guestdump::host {
namespace {

constexpr std::int64_t kT = 1795000000;

std::string commit_dump(const DumpStore& store, const std::string& domain, const std::string& uuid,
                        std::int64_t t) {
  auto p = store.begin(domain, t);
  EXPECT_TRUE(p) << p.error().message;
  DumpMeta m;
  m.domain = domain;
  m.uuid = uuid;
  m.trigger = "panic";
  m.started_at = t;
  auto dir = p->commit(m);
  EXPECT_TRUE(dir) << dir.error().message;
  return *dir;
}

TEST(DaemonStore, CrashMarksOfTheNewestDumpPerGuest) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("store"));
  ASSERT_TRUE(store);
  const std::string old_dir = commit_dump(*store, "web1", "u-1", kT);
  const std::string new_dir = commit_dump(*store, "web1", "u-1", kT + 60);
  const std::string other = commit_dump(*store, "db", "u-2", kT);
  commit_dump(*store, "nomark", "u-3", kT); // written by `guestdump dump`: no mark
  ASSERT_TRUE(record_crash_mark(old_dir, "qemu:///system", {3, 100}));
  ASSERT_TRUE(record_crash_mark(new_dir, "qemu:///system", {4, 200}));
  ASSERT_TRUE(record_crash_mark(other, "xen:///system", {9, std::nullopt}));

  auto listed = store->list();
  ASSERT_TRUE(listed);
  // meta.json stays readable by the store after the rewrite.
  for (const StoredDump& d : *listed) ASSERT_TRUE(d.meta.has_value()) << d.path;
  auto marks = crash_marks(*listed);
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks["qemu:///system u-1"].domain_id, 4);
  EXPECT_EQ(marks["qemu:///system u-1"].vcpu_time_ns, 200u);
  EXPECT_EQ(marks["xen:///system u-2"].domain_id, 9);
  EXPECT_FALSE(marks["xen:///system u-2"].vcpu_time_ns.has_value());

  auto times = dump_times(*listed);
  EXPECT_EQ(times["u-1"].size(), 2u);
  EXPECT_EQ(times["u-3"].size(), 1u);

  struct stat st {};
  ASSERT_EQ(::stat((new_dir + "/meta.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(DaemonStore, RetentionViewMarksBusyPartialsInUse) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("store"));
  ASSERT_TRUE(store);
  commit_dump(*store, "web1", "u-1", kT);
  auto writing = store->begin("web1", kT + 10);
  ASSERT_TRUE(writing);
  auto leftover = store->begin("db", kT + 20);
  ASSERT_TRUE(leftover);
  auto listed = store->list();
  ASSERT_TRUE(listed);
  auto view = retention_view(*listed, {"web1"});
  ASSERT_EQ(view.size(), 3u);
  int in_use = 0, incomplete = 0;
  for (const policies::StoredDump& d : view) {
    if (d.status == policies::DumpStatus::kIncomplete) {
      ++incomplete;
      EXPECT_EQ(d.in_use, d.guest == "web1") << d.guest;
      // Time from the directory name when there is no meta.json yet.
      EXPECT_EQ(d.time.time_since_epoch(),
                std::chrono::seconds(d.guest == "web1" ? kT + 10 : kT + 20));
    }
    in_use += d.in_use ? 1 : 0;
  }
  EXPECT_EQ(incomplete, 2);
  EXPECT_EQ(in_use, 1);
}

TEST(DaemonStore, PostHookGetsTheDirectory) {
  test::TempDir tmp;
  const std::string out = tmp.file("hook.out");
  auto rc = run_post_hook("echo >" + out, "/var/lib/guestdump/dumps/web 1/20261118T110640Z");
  ASSERT_TRUE(rc) << rc.error().message;
  EXPECT_EQ(*rc, 0);
  std::ifstream in(out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "/var/lib/guestdump/dumps/web 1/20261118T110640Z");
  auto fail = run_post_hook("exit 3;", "/x");
  ASSERT_TRUE(fail);
  EXPECT_EQ(*fail, 3);
}

TEST(DaemonStore, WritableProbe) {
  test::TempDir tmp;
  EXPECT_TRUE(check_store_writable(tmp.path()));
  auto r = check_store_writable(tmp.file("missing"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(tmp.file("missing")), std::string::npos);
}

} // namespace
} // namespace guestdump::host
