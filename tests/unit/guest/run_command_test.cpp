// run_command: the follow-ups apply runs on the live system (update-grub, kdumpctl restart ...),
// with real processes.

#include "guestdump/guest/run_command.h"

#include <chrono>

#include <gtest/gtest.h>

namespace guestdump::guest {
namespace {

constexpr std::chrono::seconds kLimit{30};

TEST(RunCommand, SuccessIsOk) {
  auto r = run_command("true", kLimit);
  EXPECT_TRUE(r) << (r ? "" : r.error().what());
}

TEST(RunCommand, ArgumentsArePassed) {
  // test(1) exits 0 only if it got exactly these words.
  EXPECT_TRUE(run_command("test crashkernel=64M = crashkernel=64M", kLimit));
  auto r = run_command("test a = b", kLimit);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "'test a = b' exited with status 1");
}

TEST(RunCommand, MissingProgramIsNamed) {
  auto r = run_command("guestdump-no-such-tool --refresh", kLimit);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("guestdump-no-such-tool not found in PATH"), std::string::npos)
      << r.error().message;
}

TEST(RunCommand, SignalIsReported) {
  // perl (Debian's perl-base, always installed) sends itself SIGKILL.
  auto r = run_command("perl -e kill(9,$$)", kLimit);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "'perl -e kill(9,$$)' was killed by signal 9 (Killed)");
}

TEST(RunCommand, DeadlineKillsTheProcessGroup) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_command("sleep 30", std::chrono::milliseconds(200));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(r.error().message, "'sleep 30' did not finish in 0 s; killed its process group");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(RunCommand, EmptyLineIsRefused) {
  EXPECT_FALSE(run_command("   ", kLimit));
}

} // namespace
} // namespace guestdump::guest
