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

TEST(LiveKernelLog, RepeatedLinesAreComparedInLinearTime) {
  // A hostile ring: 200000 identical lines, the second read one line further on, and a last line
  // that differs. A comparison that restarts at every equal first line is quadratic here (4e10
  // string compares, hours); the linear one answers at once.
  Lines earlier(200000, "[1.0] same");
  earlier.push_back("[2.0] end");
  Lines later(earlier.begin() + 1, earlier.end());
  later.push_back("[3.0] new");
  EXPECT_TRUE(log_reads_agree(earlier, later));
  later.back() = "[2.0] end";
  later[later.size() - 2] = "[1.5] rewritten";
  EXPECT_FALSE(log_reads_agree(earlier, later));
  // The overlap is the longest one: all but the first line of `earlier`.
  EXPECT_TRUE(
      log_reads_agree({"x", "[1.0] same", "[1.0] same"}, {"[1.0] same", "[1.0] same", "y"}));
  EXPECT_FALSE(log_reads_agree({"[1.0] same", "x"}, {"[1.0] same", "[1.0] same"}));
}

TEST(LiveKernelLog, FollowResumesAfterTheLastPrintedLine) {
  const Lines now = {"[0.2] b", "[0.3] c", "[0.4] d"};
  EXPECT_EQ(first_new_line(now, "[0.3] c"), 2u);
  EXPECT_EQ(first_new_line(now, "[0.4] d"), 3u);
  // The ring wrapped past it: everything is new.
  EXPECT_EQ(first_new_line(now, "[0.1] a"), 0u);
}

TEST(LiveKernelLog, SplitLogGivesEveryLineItsRecordsSequenceNumber) {
  kernel::KernelLog log;
  log.text = "[0.1] a\n[0.2] b\n      b2\n[0.3] c\n";
  log.record_refs = {{7, 0}, {8, 8}, {9, 25}};
  const LiveLogRead r = split_log(log);
  EXPECT_EQ(r.lines, (Lines{"[0.1] a", "[0.2] b", "      b2", "[0.3] c"}));
  EXPECT_EQ(r.seqs, (std::vector<std::uint64_t>{7, 8, 8, 9}));
  log.record_refs.clear();
  EXPECT_TRUE(split_log(log).seqs.empty());
}

TEST(LiveKernelLog, FollowBySequenceNumberPrintsANewLineEqualToTheLastOne) {
  // The guest logs the same text twice within one timestamp tick: by text the second copy looks
  // already printed; by sequence number it is new.
  const LiveLogRead now{{"[0.2] same", "[0.2] same", "[0.3] x", "[0.3] x"}, {4, 5, 6, 7}};
  EXPECT_EQ(first_unprinted(now, 4, "[0.2] same"), 1u);
  EXPECT_EQ(first_unprinted(now, 5, "[0.2] same"), 2u);
  EXPECT_EQ(first_unprinted(now, 7, "[0.3] x"), 4u);
  EXPECT_EQ(first_unprinted(now, std::nullopt, ""), 0u);
  // The ring moved past the last record printed: everything still there is new.
  EXPECT_EQ(first_unprinted(now, 2, "[0.1] gone"), 0u);
  // Without sequence numbers, by line.
  const LiveLogRead old_kernel{{"[0.2] b", "[0.3] c"}, {}};
  EXPECT_EQ(first_unprinted(old_kernel, std::nullopt, "[0.2] b"), 1u);
  EXPECT_EQ(first_unprinted(old_kernel, std::nullopt, ""), 0u);
}

} // namespace
} // namespace guestdump::host
