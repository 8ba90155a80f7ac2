// The torn-read rule of the live kernel log and where --follow resumes.

#include "guestdump/host/live_kernel_log.h"

#include <gtest/gtest.h>

namespace guestdump::host {
namespace {

using Lines = std::vector<std::string>;

TEST(LiveKernelLog, ReadsAgreeWhenOldLinesDropAndNewOnesFollow) {
  const Lines a = {"[0.1] a", "[0.2] b", "[0.3] c"};
  EXPECT_TRUE(log_reads_agree(a, a));
  EXPECT_TRUE(log_reads_agree(a, {"[0.1] a", "[0.2] b", "[0.3] c", "[0.4] d"}));
  EXPECT_TRUE(log_reads_agree(a, {"[0.2] b", "[0.3] c", "[0.4] d"}));
  EXPECT_TRUE(log_reads_agree(a, {"[0.3] c"}));
  EXPECT_TRUE(log_reads_agree({}, a));
}

TEST(LiveKernelLog, TornReadsDisagree) {
  const Lines a = {"[0.1] a", "[0.2] b", "[0.3] c"};
  // A record rewritten under the reader, a record lost in the middle, a shorter log.
  EXPECT_FALSE(log_reads_agree(a, {"[0.1] a", "[0.2] X", "[0.3] c"}));
  EXPECT_FALSE(log_reads_agree(a, {"[0.1] a", "[0.3] c"}));
  EXPECT_FALSE(log_reads_agree(a, {"[0.1] a", "[0.2] b"}));
  EXPECT_FALSE(log_reads_agree(a, {"garbage"}));
}

TEST(LiveKernelLog, FollowResumesAfterTheLastPrintedLine) {
  const Lines now = {"[0.2] b", "[0.3] c", "[0.4] d"};
  EXPECT_EQ(first_new_line(now, "[0.3] c"), 2u);
  EXPECT_EQ(first_new_line(now, "[0.4] d"), 3u);
  // The ring wrapped past it: everything is new.
  EXPECT_EQ(first_new_line(now, "[0.1] a"), 0u);
}

} // namespace
} // namespace guestdump::host
