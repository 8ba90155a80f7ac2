// The dump store on a real temporary directory: modes, atomic commit, failure records,
// collisions, listing order, and what an abandoned dump leaves behind.

#include "guestdump/store/dump_store.h"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.h"

namespace guestdump::store {
namespace {

namespace fs = std::filesystem;

unsigned mode_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

constexpr std::int64_t kT = 1795000000; // 2026-11-18T11:06:40Z

TEST(DumpStore, TimestampFormat) {
  EXPECT_EQ(store_timestamp(0), "19700101T000000Z");
  EXPECT_EQ(store_timestamp(1795000000), "20261118T110640Z");
}

TEST(DumpStore, OpenCreatesPrivateDirectories) {
  test::TempDir tmp;
  const std::string dir = tmp.file("a/b/dumps");
  auto store = DumpStore::open(dir);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(tmp.file("a")), 0700u);
}

TEST(DumpStore, OpenRejectsAFile) {
  test::TempDir tmp;
  std::ofstream(tmp.file("f")) << "x";
  auto store = DumpStore::open(tmp.file("f"));
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(tmp.file("f")), std::string::npos);
}

TEST(DumpStore, CommitRenamesAndWritesMeta) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  auto pending = store->begin("web1", kT);
  ASSERT_TRUE(pending) << pending.error().message;
  EXPECT_EQ(fs::path(pending->dir()).filename(), ".20261118T110640Z.partial");
  EXPECT_EQ(mode_of(pending->dir()), 0700u);
  std::ofstream(pending->file("vmcore")) << "data";
  ASSERT_TRUE(pending->write_text("dmesg.txt", "Kernel panic\n"));
  EXPECT_EQ(mode_of(pending->file("dmesg.txt")), 0600u);
  // Listed as partial while it is being written.
  auto during = store->list();
  ASSERT_TRUE(during);
  ASSERT_EQ(during->size(), 1u);
  EXPECT_TRUE((*during)[0].partial);
  EXPECT_TRUE((*during)[0].in_use);
  ASSERT_TRUE((*during)[0].meta) << "a partial dump says what it is from the start";
  EXPECT_EQ((*during)[0].meta->status, "in progress");
  EXPECT_FALSE(store->remove((*during)[0]));

  DumpMeta meta;
  meta.domain = "web1";
  meta.trigger = "panic";
  meta.dump_level = 31;
  auto final_dir = pending->commit(meta);
  ASSERT_TRUE(final_dir) << final_dir.error().message;
  EXPECT_EQ(*final_dir, tmp.file("s/web1/20261118T110640Z"));
  EXPECT_FALSE(fs::exists(tmp.file("s/web1/.20261118T110640Z.partial")));
  EXPECT_EQ(mode_of(*final_dir + "/meta.json"), 0600u);
  auto listed = store->list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  const StoredDump& d = (*listed)[0];
  EXPECT_FALSE(d.partial);
  ASSERT_TRUE(d.meta);
  EXPECT_EQ(d.meta->status, "complete");
  EXPECT_EQ(d.meta->trigger, "panic");
  EXPECT_EQ(d.meta->dump_level, 31);
  EXPECT_GT(d.bytes, 4u);
}

TEST(DumpStore, FailureKeepsOnlyTheRecord) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  auto pending = store->begin("db", kT);
  ASSERT_TRUE(pending);
  std::ofstream(pending->file("vmcore")) << "half a dump";
  DumpMeta meta;
  meta.domain = "db";
  auto dir = pending->fail(meta, "disk full");
  ASSERT_TRUE(dir);
  EXPECT_FALSE(fs::exists(*dir + "/vmcore"));
  auto listed = store->list("db");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE((*listed)[0].meta);
  EXPECT_EQ((*listed)[0].meta->status, "failed: disk full");
}

// guestdump-guest keeps the kernel log of a dump that failed (it was written first).
TEST(DumpStore, FailureKeepsTheFilesNamed) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"), Layout::kOneGuest);
  ASSERT_TRUE(store);
  auto pending = store->begin(DumpMeta{});
  ASSERT_TRUE(pending) << pending.error().message;
  std::ofstream(pending->file("vmcore")) << "half a dump";
  ASSERT_TRUE(pending->write_text("dmesg.txt", "log\n"));
  auto dir = pending->fail(DumpMeta{}, "disk full", {"dmesg.txt"});
  ASSERT_TRUE(dir);
  EXPECT_EQ(fs::path(*dir).parent_path(), fs::path(tmp.file("s")));
  EXPECT_FALSE(fs::exists(*dir + "/vmcore"));
  EXPECT_TRUE(fs::exists(*dir + "/dmesg.txt"));
  EXPECT_TRUE(fs::exists(*dir + "/meta.json"));
}

// A one-guest store has no domain level, for recovery as for everything else.
TEST(DumpStore, OneGuestRecoversAnInterruptedDumpInPlace) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"), Layout::kOneGuest);
  ASSERT_TRUE(store);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) { // a writer killed mid-dump: its partial directory stays, unlocked
    DumpMeta m;
    m.started_at = kT;
    auto pending = store->begin(m);
    if (pending) std::raise(SIGKILL);
    std::_Exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child could not begin its dump";
  auto recovered = store->recover_interrupted();
  ASSERT_TRUE(recovered) << recovered.error().message;
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0], tmp.file("s") + "/20261118T110640Z");
  auto listed = store->list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE((*listed)[0].partial);
  ASSERT_TRUE((*listed)[0].meta);
  EXPECT_EQ((*listed)[0].meta->status, kInterruptedStatus);
}

TEST(DumpStore, AbandonedDumpLeavesNothing) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  std::string dir;
  {
    auto pending = store->begin("web1", kT);
    ASSERT_TRUE(pending);
    dir = pending->dir();
    std::ofstream(pending->file("vmcore")) << "x";
  }
  EXPECT_FALSE(fs::exists(dir));
  auto listed = store->list();
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST(DumpStore, SameSecondGetsASuffixAndListIsNewestFirst) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  DumpMeta meta;
  for (int i = 0; i < 2; ++i) {
    auto p = store->begin("a", kT);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->commit(meta));
  }
  auto later = store->begin("b", kT + 60);
  ASSERT_TRUE(later);
  ASSERT_TRUE(later->commit(meta));
  auto listed = store->list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].domain, "b");
  EXPECT_EQ((*listed)[1].name, "20261118T110640Z-2");
  EXPECT_EQ((*listed)[2].name, "20261118T110640Z");
  ASSERT_TRUE(store->remove((*listed)[2]));
  EXPECT_EQ(store->list()->size(), 2u);
}

TEST(DumpStore, BadDomainNamesAreRejected) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  for (const char* bad : {"", ".hidden", "a/b", ".."}) {
    auto p = store->begin(bad, kT);
    EXPECT_FALSE(p) << bad;
  }
}

TEST(DumpStore, CorruptMetaIsListedWithoutMeta) {
  test::TempDir tmp;
  auto store = DumpStore::open(tmp.file("s"));
  ASSERT_TRUE(store);
  auto p = store->begin("a", kT);
  ASSERT_TRUE(p);
  auto dir = p->commit(DumpMeta{});
  ASSERT_TRUE(dir);
  std::ofstream(*dir + "/meta.json") << "{not json";
  auto listed = store->list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE((*listed)[0].meta);
}

} // namespace
} // namespace guestdump::store
