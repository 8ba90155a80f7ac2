// The store's retention on a real directory: what prune() deletes with `keep` counting the
// incoming dump, what it never touches (foreign names, a dump being written), and the view the
// policy gets.

#include "guestdump/store/retention.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "guestdump/store/dump_store.h"
#include "temp_dir.h"

namespace guestdump::store {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kT = 1795000000; // 2026-11-18T11:06:40Z

policies::WallTime at(std::int64_t t) {
  return policies::WallTime(std::chrono::seconds(t));
}

std::string commit_at(const DumpStore& store, std::int64_t t, const std::string& domain = {}) {
  DumpMeta m;
  m.domain = domain;
  m.started_at = t;
  auto p = store.begin(m);
  EXPECT_TRUE(p) << p.error().message;
  auto dir = p->commit(m);
  EXPECT_TRUE(dir) << dir.error().message;
  return dir ? *dir : std::string();
}

// guestdump-guest's new dump in its one-guest store (domain "").
const Incoming kNewDump{0, std::string(), {}};

std::vector<std::string> names(const std::vector<StoredDump>& dumps) {
  std::vector<std::string> out;
  for (const StoredDump& d : dumps) out.push_back(d.name);
  return out;
}

TEST(StoreNames, OnlyTimestamps) {
  EXPECT_TRUE(is_store_name("20261120T120000Z"));
  EXPECT_TRUE(is_store_name("20261120T120000Z-2"));
  EXPECT_FALSE(is_store_name("20261120T120000"));
  EXPECT_FALSE(is_store_name("20261120X120000Z"));
  EXPECT_FALSE(is_store_name("20261120T120000Z-"));
  EXPECT_FALSE(is_store_name("20261120T120000Z-x"));
  EXPECT_FALSE(is_store_name("lost+found"));
}

// A one-guest store (guestdump-guest's target): keep N counts the dump about to be written;
// an interrupted leftover always goes; foreign directories and files never do.
TEST(Prune, OneGuestKeepCountsTheIncomingDump) {
  test::TempDir tmp;
  const std::string dir = tmp.file("crash");
  auto store = DumpStore::open(dir, Layout::kOneGuest);
  ASSERT_TRUE(store) << store.error().message;
  commit_at(*store, kT);
  commit_at(*store, kT + 60);
  commit_at(*store, kT + 120);
  ASSERT_EQ(::mkdir((dir + "/.20261118T120000Z.partial").c_str(), 0700), 0); // no writer
  ASSERT_EQ(::mkdir((dir + "/lost+found").c_str(), 0700), 0);
  std::ofstream(dir + "/notes.txt") << "mine\n";
  ASSERT_EQ(names(*store->list()).size(), 4u) << "lost+found is not a dump";

  policies::RetentionPolicy keep0;
  keep0.keep = 0;
  auto gone = prune(*store, keep0, at(kT + 200), kNewDump);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(names(*gone), std::vector<std::string>{"20261118T120000Z"});

  policies::RetentionPolicy keep2;
  keep2.keep = 2;
  gone = prune(*store, keep2, at(kT + 200), kNewDump);
  ASSERT_TRUE(gone) << gone.error().message;
  // One old dump stays besides the new one: the newest.
  EXPECT_EQ(names(*gone), (std::vector<std::string>{"20261118T110640Z", "20261118T110740Z"}));
  EXPECT_EQ(names(*store->list()), std::vector<std::string>{"20261118T110840Z"});

  policies::RetentionPolicy keep1;
  keep1.keep = 1;
  gone = prune(*store, keep1, at(kT + 200), kNewDump);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->size(), 1u);
  EXPECT_TRUE(store->list()->empty());
  EXPECT_TRUE(fs::is_directory(dir + "/lost+found"));
  EXPECT_TRUE(fs::exists(dir + "/notes.txt"));
}

// The incoming dump is the newest even when the dumps before it were taken in the same second
// (names "...Z", "...Z-2") or, after the clock was set back, "later" than now: keep 2 leaves one
// old dump, the newest one (CI once kept three when three captures ran within one second).
TEST(Prune, IncomingDumpIsNewestInTheSameSecondAndAfterAClockSetBack) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("crash"), Layout::kOneGuest);
  ASSERT_TRUE(store) << store.error().message;
  commit_at(*store, kT);
  commit_at(*store, kT);
  std::vector<std::string> before = names(*store->list());
  std::sort(before.begin(), before.end());
  ASSERT_EQ(before, (std::vector<std::string>{"20261118T110640Z", "20261118T110640Z-2"}));
  policies::RetentionPolicy keep2;
  keep2.keep = 2;
  auto gone = prune(*store, keep2, at(kT), kNewDump);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(names(*gone), std::vector<std::string>{"20261118T110640Z"});

  commit_at(*store, kT + 3600);
  gone = prune(*store, keep2, at(kT + 60), kNewDump); // clock set back by ~an hour
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(names(*gone), std::vector<std::string>{"20261118T110640Z-2"});
  EXPECT_EQ(names(*store->list()), std::vector<std::string>{"20261118T120640Z"});
}

// Without an incoming dump, keep N leaves N per domain (guestdumpd's rule); a dump being
// written is never deleted.
TEST(Prune, PerDomainKeepAndDumpsInUse) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  commit_at(*store, kT, "a");
  commit_at(*store, kT + 60, "a");
  commit_at(*store, kT + 30, "b");
  auto writing = store->begin("a", kT - 600);
  ASSERT_TRUE(writing);
  policies::RetentionPolicy keep1;
  keep1.keep = 1;
  auto gone = prune(*store, keep1, at(kT + 100));
  ASSERT_TRUE(gone) << gone.error().message;
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].domain, "a");
  EXPECT_EQ((*gone)[0].name, "20261118T110640Z");
  EXPECT_TRUE(fs::exists(writing->dir()));
  EXPECT_EQ(store->list()->size(), 3u);
}

// guestdumpd with a remote store holds every dump whose upload is not confirmed: no rule deletes
// it (keep=1 would leave only the newest).
TEST(Prune, HeldDumpsAreNeverDeleted) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  commit_at(*store, kT, "a");
  commit_at(*store, kT + 60, "a");
  commit_at(*store, kT + 120, "a");
  policies::RetentionPolicy keep1;
  keep1.keep = 1;
  Incoming in;
  in.hold = [](const StoredDump& d) { return d.name == "20261118T110740Z"; };
  auto gone = prune(*store, keep1, at(kT + 200), in);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(names(*gone), std::vector<std::string>{"20261118T110640Z"});
  EXPECT_EQ(names(*store->list()),
            (std::vector<std::string>{"20261118T110840Z", "20261118T110740Z"}));
  // Without the hold the same rule takes it too.
  gone = prune(*store, keep1, at(kT + 200));
  ASSERT_TRUE(gone);
  EXPECT_EQ(names(*gone), std::vector<std::string>{"20261118T110740Z"});
}

TEST(RetentionView, StatusAndTimeFromMetaOrName) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  const std::string ok = commit_at(*store, kT, "a");
  auto p = store->begin("a", kT + 60);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->fail(DumpMeta{}, "disk full"));
  const std::string bare = commit_at(*store, kT + 120, "a");
  fs::remove(bare + "/meta.json");
  auto listed = store->list();
  ASSERT_TRUE(listed);
  auto view = retention_view(*listed);
  ASSERT_EQ(view.size(), 3u);
  // Newest first: no meta.json (failed, time from its name), the failure, the complete one.
  EXPECT_EQ(view[0].status, policies::DumpStatus::kFailed);
  EXPECT_EQ(view[0].time, at(kT + 120));
  EXPECT_EQ(view[1].status, policies::DumpStatus::kFailed);
  EXPECT_EQ(view[2].status, policies::DumpStatus::kComplete);
  EXPECT_EQ(view[2].time, at(kT));
}

} // namespace
} // namespace guestdump::store
