#include "guestdump/common/subprocess.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "temp_dir.h"

namespace guestdump {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Subprocess, StreamsGoToTheGivenFiles) {
  test::TempDir dir;
  std::ofstream(dir.file("in")) << "from stdin\n";
  ProcessIo io;
  io.stdin_path = dir.file("in");
  io.stdout_path = dir.file("out");
  io.stderr_path = dir.file("err");
  auto ex = run_process({"/bin/sh", "-c", "cat; echo to-stderr >&2; exit 3"},
                        std::chrono::seconds(30), io);
  ASSERT_TRUE(ex) << ex.error().message;
  EXPECT_EQ(ex->code, 3);
  EXPECT_FALSE(ex->timed_out);
  EXPECT_EQ(slurp(dir.file("out")), "from stdin\n");
  EXPECT_EQ(slurp(dir.file("err")), "to-stderr\n");
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("out").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Subprocess, DefaultStdinIsEmpty) {
  test::TempDir dir;
  ProcessIo io;
  io.stdout_path = dir.file("out");
  auto ex = run_process({"/bin/sh", "-c", "cat; echo done"}, std::chrono::seconds(30), io);
  ASSERT_TRUE(ex) << ex.error().message;
  EXPECT_EQ(ex->code, 0);
  EXPECT_EQ(slurp(dir.file("out")), "done\n");
}

} // namespace
} // namespace guestdump
