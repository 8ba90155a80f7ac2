#include "guestdump/common/io.h"

#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
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
  test::TempDir dir;
  std::string target = dir.file("out.kdump");
  std::ofstream(target) << "previous";
  {
    auto out = OutputFile::create(target);
    ASSERT_TRUE(out);
    std::string data = "partial";
    ASSERT_TRUE(write_all(out->fd(), std::as_bytes(std::span(data)), "out"));
  } // dies without commit
  EXPECT_EQ(slurp(target), "previous");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(OutputFile, MissingDirectoryIsAClearError) {
  auto out = OutputFile::create("/nonexistent-dir/x.kdump");
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("/nonexistent-dir/x.kdump"), std::string::npos);
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
