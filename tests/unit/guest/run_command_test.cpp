// run_command: the follow-ups apply runs on the live system (update-grub, kdumpctl restart ...),
// with real processes.

#include "run_command.h"

#include <gtest/gtest.h>

namespace guestdump::guest {
namespace {

TEST(RunCommand, SuccessIsOk) {
  auto r = run_command("true");
  EXPECT_TRUE(r) << (r ? "" : r.error().what());
}

TEST(RunCommand, ArgumentsArePassed) {
  // test(1) exits 0 only if it got exactly these words.
  EXPECT_TRUE(run_command("test crashkernel=64M = crashkernel=64M"));
  auto r = run_command("test a = b");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "'test a = b' exited with status 1");
}

TEST(RunCommand, MissingProgramIsNamed) {
  auto r = run_command("guestdump-no-such-tool --refresh");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("guestdump-no-such-tool not found in PATH"), std::string::npos)
      << r.error().message;
}

TEST(RunCommand, SignalIsReported) {
  // perl (Debian's perl-base, always installed) sends itself SIGKILL.
  auto r = run_command("perl -e kill(9,$$)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "'perl -e kill(9,$$)' was killed by signal 9 (Killed)");
}

TEST(RunCommand, EmptyLineIsRefused) {
  EXPECT_FALSE(run_command("   "));
}

} // namespace
} // namespace guestdump::guest
