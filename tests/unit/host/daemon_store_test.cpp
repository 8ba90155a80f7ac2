// guestdumpd and the store: crash marks survive a restart, retention sees what is in use, the
// post-hook gets the dump directory, the writability probe fails on a read-only directory.

#include "guestdump/host/daemon_store.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestdump/store/retention.h"
#include "temp_dir.h"

namespace guestdump::host {
namespace {

constexpr std::int64_t kT = 1795000000;

std::string commit_dump(const store::DumpStore& store, const std::string& domain,
                        const std::string& uuid, std::int64_t t, nlohmann::json record = nullptr) {
  store::DumpMeta m;
  m.domain = domain;
  m.uuid = uuid;
  m.trigger = "panic";
  m.started_at = t;
  m.daemon = std::move(record);
  auto p = store.begin(m);
  EXPECT_TRUE(p) << p.error().message;
  auto dir = p->commit(m);
  EXPECT_TRUE(dir) << dir.error().message;
  return *dir;
}

TEST(DaemonStore, CrashMarksOfTheNewestDumpPerGuest) {
  test::TempDir tmp;
  auto store = store::DumpStore::open(tmp.file("store"));
  ASSERT_TRUE(store);
  commit_dump(*store, "web1", "u-1", kT, crash_record("qemu:///system", {3, 100}));
  const std::string new_dir =
      commit_dump(*store, "web1", "u-1", kT + 60, crash_record("qemu:///system", {4, 200}));
  commit_dump(*store, "db", "u-2", kT, crash_record("xen:///system", {9, std::nullopt}));
  commit_dump(*store, "nomark", "u-3", kT); // written by `guestdump dump`: no mark

  auto listed = store->list();
  ASSERT_TRUE(listed);
  // meta.json stays readable by the store after the rewrite.
  for (const store::StoredDump& d : *listed) ASSERT_TRUE(d.meta.has_value()) << d.path;
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

// A writer that dies without cleaning up, as SIGKILL leaves it: the child begins a dump in
// `store` and kills itself; its partial directory stays, unlocked.
void begin_and_die(const store::DumpStore& store, const std::string& domain, std::int64_t t,
                   nlohmann::json record = nullptr) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    store::DumpMeta m;
    m.domain = domain;
    m.uuid = "u-" + domain;
    m.trigger = "panic";
    m.started_at = t;
    m.daemon = std::move(record);
    auto p = store.begin(m);
    if (p) std::raise(SIGKILL);
    std::_Exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child could not begin its dump";
}

TEST(DaemonStore, RetentionViewMarksLockedPartialsInUse) {
  test::TempDir tmp;
  auto store = store::DumpStore::open(tmp.file("store"));
  ASSERT_TRUE(store);
  commit_dump(*store, "web1", "u-1", kT);
  auto writing = store->begin("web1", kT + 10);
  ASSERT_TRUE(writing);
  begin_and_die(*store, "db", kT + 20);
  auto listed = store->list();
  ASSERT_TRUE(listed);
  auto view = store::retention_view(*listed);
  ASSERT_EQ(view.size(), 3u);
  int in_use = 0, incomplete = 0;
  for (const policies::StoredDump& d : view) {
    if (d.status == policies::DumpStatus::kIncomplete) {
      ++incomplete;
      // In use exactly while a live process holds the directory's lock, whatever its domain.
      EXPECT_EQ(d.in_use, d.guest == "web1") << d.guest;
      EXPECT_EQ(d.time.time_since_epoch(),
                std::chrono::seconds(d.guest == "web1" ? kT + 10 : kT + 20));
    }
    in_use += d.in_use ? 1 : 0;
  }
  EXPECT_EQ(incomplete, 2);
  EXPECT_EQ(in_use, 1);

  // remove() refuses the one being written and takes the interrupted one.
  for (const store::StoredDump& d : *listed) {
    if (!d.partial) continue;
    auto r = store->remove(d);
    EXPECT_EQ(static_cast<bool>(r), d.domain == "db") << d.path;
    EXPECT_EQ(std::filesystem::exists(d.path), d.domain == "web1") << d.path;
  }
  EXPECT_TRUE(std::filesystem::exists(writing->dir()));
}

TEST(DaemonStore, InterruptedDumpsBecomeFailureRecordsThatCount) {
  test::TempDir tmp;
  auto store = store::DumpStore::open(tmp.file("store"));
  ASSERT_TRUE(store);
  begin_and_die(*store, "web1", kT, crash_record("qemu:///system", {7, 5000}));
  auto alive = store->begin("db", kT + 5);
  ASSERT_TRUE(alive);
  // Something the dead writer left inside: it must not survive under a final name.
  {
    auto listed = store->list(std::string("web1"));
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    std::ofstream(listed->front().path + "/vmcore") << "partial guest memory";
  }
  auto rec = store->recover_interrupted();
  ASSERT_TRUE(rec) << rec.error().message;
  ASSERT_EQ(rec->size(), 1u);
  EXPECT_EQ(std::filesystem::path(rec->front()).filename(), "20261118T110640Z");
  EXPECT_FALSE(std::filesystem::exists(rec->front() + "/vmcore"));
  EXPECT_TRUE(std::filesystem::exists(alive->dir())) << "a live writer's dump was touched";

  auto listed = store->list();
  ASSERT_TRUE(listed);
  const store::StoredDump* web1 = nullptr;
  for (const store::StoredDump& d : *listed) {
    if (d.domain == "web1") web1 = &d;
  }
  ASSERT_NE(web1, nullptr);
  EXPECT_FALSE(web1->partial);
  ASSERT_TRUE(web1->meta);
  EXPECT_EQ(web1->meta->status, store::kInterruptedStatus);
  EXPECT_EQ(web1->meta->uuid, "u-web1");
  // It counts for the crash-loop limit, and its crash is not dumped again.
  EXPECT_EQ(dump_times(*listed)["u-web1"].size(), 1u);
  auto marks = crash_marks(*listed);
  ASSERT_EQ(marks.count("qemu:///system u-web1"), 1u);
  EXPECT_EQ(marks["qemu:///system u-web1"].domain_id, 7);
  // A second recovery finds nothing more to do.
  auto again = store->recover_interrupted();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

TEST(DaemonStore, PostHookGetsTheDirectory) {
  test::TempDir tmp;
  const std::string out = tmp.file("hook.out");
  auto rc = run_post_hook("echo >" + out, "/var/lib/guestdump/dumps/web 1/20261118T110640Z",
                          std::chrono::seconds(30));
  ASSERT_TRUE(rc) << rc.error().message;
  EXPECT_EQ(*rc, 0);
  std::ifstream in(out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "/var/lib/guestdump/dumps/web 1/20261118T110640Z");
  auto fail = run_post_hook("exit 3;", "/x", std::chrono::seconds(30));
  ASSERT_TRUE(fail);
  EXPECT_EQ(*fail, 3);
}

TEST(DaemonStore, PostHookThatHangsIsKilledWithItsChildren) {
  test::TempDir tmp;
  const std::string pidfile = tmp.file("child.pid");
  const auto t0 = std::chrono::steady_clock::now();
  // The hook leaves a grandchild behind and waits forever.
  auto rc = run_post_hook("sleep 300 & echo $! >" + pidfile + "; wait; :", "/x",
                          std::chrono::milliseconds(500));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(rc);
  EXPECT_EQ(rc.error().code, ErrorCode::kTimeout);
  EXPECT_NE(rc.error().message.find("did not finish"), std::string::npos) << rc.error().message;
  EXPECT_LT(took, std::chrono::seconds(10));
  std::ifstream in(pidfile);
  pid_t child = 0;
  ASSERT_TRUE(in >> child);
  // Gone, or a zombie waiting for init: either way no longer running.
  std::string state;
  for (int i = 0; i < 100; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid_s, comm;
    state.clear();
    if (!(stat >> pid_s >> comm >> state) || state == "Z") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(state.empty() || state == "Z") << "the hook's child still runs: " << state;
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
