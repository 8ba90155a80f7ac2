// The minimal-change editors: only the named key's line changes, every other byte survives.

#include "guestdump/guest/config_edit.h"

#include <gtest/gtest.h>

namespace guestdump::guest {
namespace {

TEST(ShellVar, RewritesLastAssignmentInPlace) {
  const std::string in = "# USE_KDUMP=0 in a comment\n"
                         "USE_KDUMP=0\n"
                         "  export USE_KDUMP='0'   # trailing comment\n"
                         "OTHER=\"x y\"\n";
  EXPECT_EQ(get_shell_var(in, "USE_KDUMP"), "0");
  EXPECT_EQ(set_shell_var(in, "USE_KDUMP", "1"), "# USE_KDUMP=0 in a comment\n"
                                                 "USE_KDUMP=0\n"
                                                 "  export USE_KDUMP='1'   # trailing comment\n"
                                                 "OTHER=\"x y\"\n");
  EXPECT_EQ(get_shell_var(in, "OTHER"), "x y");
  EXPECT_FALSE(get_shell_var(in, "USE"));
}

TEST(ShellVar, AppendsWhenAbsentKeepingLineEndings) {
  EXPECT_EQ(set_shell_var("A=1", "B", "2"), "A=1\nB=\"2\"\n");
  EXPECT_EQ(set_shell_var("A=1\r\n", "B", "2"), "A=1\r\nB=\"2\"\r\n");
  EXPECT_EQ(set_shell_var("", "B", "2"), "B=\"2\"\n");
  EXPECT_EQ(set_shell_var("A=1\r\nB=old\r\nC=3", "B", "new"), "A=1\r\nB=\"new\"\r\nC=3");
  // A commented-out default is not an assignment.
  EXPECT_EQ(set_shell_var("#KDUMP_CMDLINE_APPEND=\"x\"\n", "KDUMP_CMDLINE_APPEND", "y"),
            "#KDUMP_CMDLINE_APPEND=\"x\"\nKDUMP_CMDLINE_APPEND=\"y\"\n");
}

TEST(Directive, ReplacesOrAppends) {
  const std::string in = "path /var/crash\n#failure_action shell\nfailure_action shell\n"
                         "failure_actions_x 1\n";
  EXPECT_EQ(set_directive(in, "failure_action", "reboot"),
            "path /var/crash\n#failure_action shell\nfailure_action reboot\n"
            "failure_actions_x 1\n");
  EXPECT_EQ(set_directive(in, "final_action", "reboot"), in + "final_action reboot\n");
}

TEST(Params, MergeReplacesKeysAndRemovesTokens) {
  EXPECT_EQ(merge_params("quiet nr_cpus=4 a=b", {"nr_cpus=1", "irqpoll"}, {"a=b"}),
            "quiet nr_cpus=1 irqpoll");
  EXPECT_EQ(merge_params("", {"x"}, {}), "x");
  EXPECT_EQ(merge_params("$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M",
                         {"crashkernel=512M-:96M"}, {}),
            "$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=512M-:96M");
}

TEST(Diff, UnifiedHunks) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) before += "line" + std::to_string(i) + "\n";
  after = before;
  after.replace(after.find("line10\n"), 7, "LINE10\n");
  EXPECT_EQ(unified_diff(before, after, "/etc/x"), "--- a/etc/x\n+++ b/etc/x\n"
                                                   "@@ -7,7 +7,7 @@\n"
                                                   " line7\n line8\n line9\n"
                                                   "-line10\n+LINE10\n"
                                                   " line11\n line12\n line13\n");
  EXPECT_EQ(unified_diff(before, before, "/etc/x"), "");
  EXPECT_EQ(unified_diff(std::nullopt, "a\n", "/etc/new"),
            "--- /dev/null\n+++ b/etc/new\n@@ -0,0 +1,1 @@\n+a\n");
  EXPECT_EQ(unified_diff(std::string("a"), "a\nb\n", "/f"),
            "--- a/f\n+++ b/f\n@@ -1,1 +1,2 @@\n-a\n\\ No newline at end of file\n+a\n+b\n");
}

TEST(Diff, TwoDistantChangesMakeTwoHunks) {
  std::string before;
  for (int i = 1; i <= 30; ++i) before += std::to_string(i) + "\n";
  std::string after = before;
  after.replace(0, 2, "one\n");
  after += "31\n";
  const std::string d = unified_diff(before, after, "/f");
  EXPECT_NE(d.find("@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n"), std::string::npos) << d;
  EXPECT_NE(d.find("@@ -28,3 +28,4 @@\n 28\n 29\n 30\n+31\n"), std::string::npos) << d;
}

} // namespace
} // namespace guestdump::guest
