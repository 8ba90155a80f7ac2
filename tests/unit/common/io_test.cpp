#include "guestdump/common/io.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "temp_dir.h"

namespace guestdump {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OutputFile, InvisibleUntilCommitThenMode0600) {
  test::TempDir dir;
  std::string target = dir.file("out.kdump");
  {
    auto out = OutputFile::create(target);
    ASSERT_TRUE(out) << out.error().what();
    ASSERT_TRUE(out->seekable());
    std::string data = "hello";
    ASSERT_TRUE(write_all(out->fd(), std::as_bytes(std::span(data)), "out"));
    EXPECT_FALSE(fs::exists(target)); // only the hidden temporary exists
    ASSERT_TRUE(out->commit());
  }
  EXPECT_EQ(slurp(target), "hello");
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(OutputFile, UncommittedLeavesPreviousFileIntact) {
  for (bool syncer : {false, true}) {
    SCOPED_TRACE(syncer ? "with a syncer running" : "without a syncer");
    test::TempDir dir;
    std::string target = dir.file("out.kdump");
    std::ofstream(target) << "previous";
    {
      auto out = OutputFile::create(target);
      ASSERT_TRUE(out);
      if (syncer) out->sync_while_writing(1);
      std::vector<std::byte> data(64 << 10, std::byte{1});
      ASSERT_TRUE(write_all(out->fd(), data, "out"));
      OutputFile moved = std::move(*out); // the temporary (and the syncer) follow the file
      if (syncer) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } // dies without commit: the syncer stops, the temporary goes
    EXPECT_EQ(slurp(target), "previous");
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  }
}

// cachestat(2) (Linux 6.5): page cache state of a file range. Declared here because Debian 12's
// headers predate it.
struct CacheStat {
  std::uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
struct CacheStatRange {
  std::uint64_t off, len;
};
constexpr long kSysCachestat = 451; // x86_64

// Dirty plus under-writeback pages of the whole file, or -1 if the kernel cannot tell.
long unsynced_pages(int fd) {
  CacheStatRange range{0, 0}; // len 0: to the end of the file
  CacheStat cs{};
  if (::syscall(kSysCachestat, fd, &range, &cs, 0) != 0) return -1;
  return static_cast<long>(cs.nr_dirty + cs.nr_writeback);
}

TEST(OutputFile, SyncWhileWritingPutsDataOnDiskBeforeCommit) {
  test::TempDir dir;
  struct statfs sfs {};
  ASSERT_EQ(::statfs(dir.path().c_str(), &sfs), 0);
  if (sfs.f_type == TMPFS_MAGIC) GTEST_SKIP() << dir.path() << " is on tmpfs (no writeback)";
  std::string target = dir.file("out.kdump");
  auto out = OutputFile::create(target);
  ASSERT_TRUE(out);
  if (unsynced_pages(out->fd()) < 0) GTEST_SKIP() << "no cachestat(2) on this kernel";
  out->sync_while_writing(1 << 20);
  std::vector<std::byte> chunk(1 << 20, std::byte{0x5a});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pwrite_all(out->fd(), chunk, i * chunk.size(), "out"));
  // The kernel alone would leave these pages dirty for dirty_expire_centisecs (30 s): only the
  // syncer makes them clean within the deadline.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  long left = unsynced_pages(out->fd());
  while (left != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    left = unsynced_pages(out->fd());
  }
  EXPECT_EQ(left, 0) << "pages still dirty or under writeback before commit";
  EXPECT_FALSE(fs::exists(target));
  ASSERT_TRUE(out->commit());
  EXPECT_EQ(fs::file_size(target), 4u << 20);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(OutputFile, SyncWhileWritingIgnoresStreams) {
  auto out = OutputFile::create("-");
  ASSERT_TRUE(out);
  out->sync_while_writing(1); // standard output is written in place: nothing to sync ahead
  EXPECT_TRUE(out->commit());
}

TEST(OutputFile, MissingDirectoryIsAClearError) {
  auto out = OutputFile::create("/nonexistent-dir/x.kdump");
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("/nonexistent-dir/x.kdump"), std::string::npos);
}

TEST(OutputFile, PlantedSymlinkIsReplacedNeverFollowed) {
  test::TempDir dir;
  const std::string victim = dir.file("victim");
  std::ofstream(victim) << "precious";
  const std::string target = dir.file("vmcore");
  ASSERT_EQ(::symlink(victim.c_str(), target.c_str()), 0);
  auto out = OutputFile::create(target);
  ASSERT_TRUE(out) << out.error().message;
  std::string data = "dump";
  ASSERT_TRUE(write_all(out->fd(), std::as_bytes(std::span(data)), "out"));
  ASSERT_TRUE(out->commit());
  EXPECT_EQ(slurp(victim), "precious") << "the output followed a planted symlink";
  EXPECT_FALSE(fs::is_symlink(target));
  EXPECT_EQ(slurp(target), "dump");
}

TEST(OutputFile, PlantedFifoOrDeviceIsRefusedUnlessAStreamWasAsked) {
  test::TempDir dir;
  const std::string fifo = dir.file("vmcore");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO for writing would block until someone reads it, or hand them the dump.
  auto out = OutputFile::create(fifo);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("is a FIFO"), std::string::npos) << out.error().message;
  EXPECT_NE(out.error().message.find(fifo), std::string::npos);
  // A symlink to a device is not followed either: the rename replaces the link.
  const std::string link = dir.file("dmesg.txt");
  ASSERT_EQ(::symlink("/dev/null", link.c_str()), 0);
  auto via_link = OutputFile::create(link);
  ASSERT_TRUE(via_link) << via_link.error().message;
  ASSERT_TRUE(via_link->commit());
  EXPECT_FALSE(fs::is_symlink(link));
  EXPECT_TRUE(fs::is_regular_file(link));
  // Where the user named a stream, it is written in place.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  auto stream = OutputFile::create(fifo, OutputFile::Target::kStream);
  ASSERT_TRUE(stream) << stream.error().message;
  EXPECT_FALSE(stream->seekable());
  std::string data = "x";
  ASSERT_TRUE(write_all(stream->fd(), std::as_bytes(std::span(data)), "fifo"));
  ASSERT_TRUE(stream->commit());
  char c = 0;
  EXPECT_EQ(::read(reader, &c, 1), 1);
  EXPECT_EQ(c, 'x');
  ::close(reader);
  // /dev/stdout-style links to a character device count as a named stream.
  auto dev = OutputFile::create("/dev/null", OutputFile::Target::kStream);
  ASSERT_TRUE(dev) << dev.error().message;
  EXPECT_TRUE(dev->commit());
  EXPECT_FALSE(OutputFile::create("/dev/null")) << "a device is written only when asked";
}

TEST(MappedFile, MapsAndRejectsNonRegular) {
  test::TempDir dir;
  std::ofstream(dir.file("a")) << "abc";
  auto m = MappedFile::open(dir.file("a"));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ(static_cast<char>(m->bytes()[1]), 'b');
  auto d = MappedFile::open(dir.path());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kUnsupported);
}

TEST(Io, PreadExactReportsEndOfFile) {
  test::TempDir dir;
  std::ofstream(dir.file("a")) << "abc";
  auto fd = UniqueFd::open(dir.file("a"), O_RDONLY);
  ASSERT_TRUE(fd);
  std::byte buf[8];
  auto r = pread_exact(fd->get(), buf, 0, "a");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadData);
  EXPECT_TRUE(pread_exact(fd->get(), std::span(buf, 2), 1, "a"));
  EXPECT_EQ(static_cast<char>(buf[0]), 'b');
}

} // namespace
} // namespace guestdump
