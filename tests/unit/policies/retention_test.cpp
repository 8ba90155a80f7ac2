#include <gtest/gtest.h>

#include <guestdump/policies/retention.h>

namespace guestdump::policies {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = WallTime{} + std::chrono::hours(24 * 365 * 56);
constexpr std::uint64_t kMiB = 1ULL << 20;

StoredDump dump(std::string guest, Duration age, std::uint64_t bytes = kMiB,
                DumpStatus status = DumpStatus::kComplete, bool in_use = false) {
  StoredDump d;
  d.guest = std::move(guest);
  d.time = kNow - age;
  d.id = "t-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count());
  d.bytes = bytes;
  d.status = status;
  d.in_use = in_use;
  return d;
}

std::vector<std::string> deleted_ids(const RetentionPlan& plan) {
  std::vector<std::string> out;
  for (const Deletion& d : plan.deletions) out.push_back(d.dump.guest + "/" + d.dump.id);
  return out;
}

RetentionPolicy only_keep(std::uint32_t n) {
  return {.keep = n, .max_age = 0s, .max_total_bytes = 0};
}

TEST(Retention, NothingToDo) {
  const RetentionPlan p = plan_retention({dump("a", 1h), dump("a", 2h)}, kNow, only_keep(5));
  EXPECT_TRUE(p.deletions.empty());
  EXPECT_EQ(p.bytes_after, 2 * kMiB);
  EXPECT_FALSE(p.over_budget);
  EXPECT_TRUE(plan_retention({}, kNow, only_keep(1)).deletions.empty());
}

TEST(Retention, KeepNPerGuestDeletesOldestFirst) {
  const std::vector<StoredDump> dumps = {dump("a", 1h), dump("a", 5h), dump("b", 2h),
                                         dump("a", 3h), dump("a", 4h), dump("b", 9h)};
  const RetentionPlan p = plan_retention(dumps, kNow, only_keep(2));
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"a/t-18000", "a/t-14400"}));
  EXPECT_EQ(p.deletions[1].reason, "keep=2: 2 newer dumps of 'a'");
  EXPECT_EQ(p.deletions[0].reason, "keep=2: 3 newer dumps of 'a'");
  EXPECT_EQ(p.bytes_after, 4 * kMiB);
}

TEST(Retention, KeepZeroMeansUnlimited) {
  const RetentionPlan p =
      plan_retention({dump("a", 1h), dump("a", 2h), dump("a", 3h)}, kNow, only_keep(0));
  EXPECT_TRUE(p.deletions.empty());
}

TEST(Retention, TiesAreBrokenByGuestThenId) {
  // Three dumps at the same instant: order by guest, then id, so the answer is stable.
  StoredDump x = dump("a", 1h);
  x.id = "x";
  StoredDump y = dump("a", 1h);
  y.id = "y";
  StoredDump z = dump("a", 1h);
  z.id = "w";
  const RetentionPlan p1 = plan_retention({x, y, z}, kNow, only_keep(1));
  const RetentionPlan p2 = plan_retention({z, y, x}, kNow, only_keep(1));
  EXPECT_EQ(deleted_ids(p1), (std::vector<std::string>{"a/w", "a/x"}));
  EXPECT_EQ(deleted_ids(p1), deleted_ids(p2));
  // Across guests with equal times in max-total: guest name decides.
  StoredDump b = dump("b", 1h, 10 * kMiB);
  StoredDump a = dump("a", 1h, 10 * kMiB);
  const RetentionPlan p3 =
      plan_retention({b, a}, kNow, {.keep = 0, .max_age = 0s, .max_total_bytes = 15 * kMiB});
  EXPECT_EQ(deleted_ids(p3), (std::vector<std::string>{"a/t-3600"}));
}

TEST(Retention, InUseDumpIsNeverDeletedNorCountedByKeep) {
  const std::vector<StoredDump> dumps = {dump("a", 0s, 50 * kMiB, DumpStatus::kIncomplete, true),
                                         dump("a", 1h), dump("a", 2h)};
  const RetentionPlan p = plan_retention(dumps, kNow, only_keep(1));
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"a/t-7200"}));
  // Even with every limit at its tightest, the dump being written stays.
  const RetentionPlan tight =
      plan_retention(dumps, kNow, {.keep = 1, .max_age = 1ms, .max_total_bytes = 1});
  for (const Deletion& d : tight.deletions) EXPECT_FALSE(d.dump.in_use) << d.dump.id;
  EXPECT_EQ(tight.deletions.size(), 2u);
  EXPECT_TRUE(tight.over_budget);
  EXPECT_EQ(tight.bytes_after, 50 * kMiB);
}

TEST(Retention, InUseCompleteDumpIsProtectedToo) {
  // A complete dump still referenced by a running job (post-hook running, say).
  const std::vector<StoredDump> dumps = {dump("a", 10h, kMiB, DumpStatus::kComplete, true)};
  EXPECT_TRUE(plan_retention(dumps, kNow, {.keep = 1, .max_age = 1s, .max_total_bytes = 1})
                  .deletions.empty());
}

TEST(Retention, StaleIncompleteDumpsAreDeleted) {
  const std::vector<StoredDump> dumps = {dump("a", 3h, kMiB, DumpStatus::kIncomplete),
                                         dump("a", 1h)};
  const RetentionPlan p = plan_retention(dumps, kNow, only_keep(0));
  ASSERT_EQ(p.deletions.size(), 1u);
  EXPECT_EQ(p.deletions[0].reason, "incomplete dump with no running job");
  EXPECT_EQ(p.bytes_after, kMiB);
}

TEST(Retention, StaleIncompleteDoesNotUseAKeepSlot) {
  const std::vector<StoredDump> dumps = {dump("a", 1h, kMiB, DumpStatus::kIncomplete),
                                         dump("a", 2h)};
  const RetentionPlan p = plan_retention(dumps, kNow, only_keep(1));
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"a/t-3600"})); // the 2h-old one stays
}

TEST(Retention, FailedDumpsCountAsSettled) {
  const std::vector<StoredDump> dumps = {dump("a", 1h, kMiB, DumpStatus::kFailed), dump("a", 2h)};
  EXPECT_EQ(deleted_ids(plan_retention(dumps, kNow, only_keep(1))),
            (std::vector<std::string>{"a/t-7200"}));
}

TEST(Retention, MaxAgeBoundaryIsStrict) {
  const RetentionPolicy pol{.keep = 0, .max_age = 24h, .max_total_bytes = 0};
  const std::vector<StoredDump> dumps = {dump("a", 24h), dump("a", 24h + 1ms), dump("a", 1h)};
  const RetentionPlan p = plan_retention(dumps, kNow, pol);
  ASSERT_EQ(p.deletions.size(), 1u);
  EXPECT_EQ(p.deletions[0].dump.time, kNow - 24h - 1ms);
  EXPECT_EQ(p.deletions[0].reason, "older than max-age 1 d (age 1 d)");
}

TEST(Retention, FutureDumpsAreNotAgedOut) {
  // The clock was set back: a dump "from the future" has age 0 under max-age.
  const RetentionPolicy pol{.keep = 0, .max_age = 1h, .max_total_bytes = 0};
  EXPECT_TRUE(plan_retention({dump("a", -48h)}, kNow, pol).deletions.empty());
}

TEST(Retention, MaxTotalDeletesOldestAcrossGuestsUntilUnder) {
  const std::vector<StoredDump> dumps = {dump("a", 1h, 40 * kMiB), dump("b", 2h, 30 * kMiB),
                                         dump("a", 3h, 20 * kMiB), dump("c", 4h, 10 * kMiB)};
  // 100 MiB stored, budget 70: delete c (4h, 10) and a (3h, 20) -> 70, exactly at the limit.
  const RetentionPlan p =
      plan_retention(dumps, kNow, {.keep = 0, .max_age = 0s, .max_total_bytes = 70 * kMiB});
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"c/t-14400", "a/t-10800"}));
  EXPECT_EQ(p.bytes_after, 70 * kMiB);
  EXPECT_FALSE(p.over_budget);
  EXPECT_EQ(p.deletions[0].reason, "store over max-total 70.0 MiB (100.0 MiB)");
  // One byte less and b goes as well.
  const RetentionPlan q =
      plan_retention(dumps, kNow, {.keep = 0, .max_age = 0s, .max_total_bytes = 70 * kMiB - 1});
  EXPECT_EQ(q.deletions.size(), 3u);
  EXPECT_EQ(q.bytes_after, 40 * kMiB);
}

TEST(Retention, MaxTotalCountsTheIncomingDump) {
  const std::vector<StoredDump> dumps = {dump("a", 1h, 40 * kMiB), dump("b", 2h, 30 * kMiB)};
  const RetentionPolicy pol{.keep = 0, .max_age = 0s, .max_total_bytes = 100 * kMiB};
  EXPECT_TRUE(plan_retention(dumps, kNow, pol, 30 * kMiB).deletions.empty());
  const RetentionPlan p = plan_retention(dumps, kNow, pol, 30 * kMiB + 1);
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"b/t-7200"}));
  EXPECT_EQ(p.deletions[0].reason, "store over max-total 100.0 MiB (100.0 MiB with the next dump)");
  // An incoming dump bigger than the budget: everything settled goes, and it still does not fit.
  const RetentionPlan all = plan_retention(dumps, kNow, pol, 200 * kMiB);
  EXPECT_EQ(all.deletions.size(), 2u);
  EXPECT_TRUE(all.over_budget);
  EXPECT_EQ(all.bytes_after, 0u);
}

TEST(Retention, InUseBytesCountTowardMaxTotal) {
  const std::vector<StoredDump> dumps = {dump("a", 0s, 60 * kMiB, DumpStatus::kIncomplete, true),
                                         dump("b", 2h, 30 * kMiB), dump("c", 1h, 5 * kMiB)};
  const RetentionPlan p =
      plan_retention(dumps, kNow, {.keep = 0, .max_age = 0s, .max_total_bytes = 80 * kMiB});
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"b/t-7200"}));
  EXPECT_EQ(p.bytes_after, 65 * kMiB);
}

TEST(Retention, AllLimitsAtOnceEachDumpOnceWithFirstReason) {
  const std::vector<StoredDump> dumps = {dump("a", 1h, 10 * kMiB),
                                         dump("a", 2h, 10 * kMiB),
                                         dump("a", 3h, 10 * kMiB),
                                         dump("a", 50h, 10 * kMiB),
                                         dump("b", 60h, 10 * kMiB),
                                         dump("b", 5h, 10 * kMiB),
                                         dump("c", 1h, 40 * kMiB),
                                         dump("c", 0s, 5 * kMiB, DumpStatus::kIncomplete, true),
                                         dump("d", 7h, 1 * kMiB, DumpStatus::kIncomplete)};
  const RetentionPolicy pol{.keep = 2, .max_age = 48h, .max_total_bytes = 60 * kMiB};
  const RetentionPlan p = plan_retention(dumps, kNow, pol);
  // b/60h: age; a/50h: keep (keep is checked before age); a/3h: keep; d/7h: incomplete;
  // remaining a1,a2,b5,c1 + in-use c0 = 10+10+10+40+5 = 75 > 60: delete b/5h (oldest) -> 65,
  // then a/2h -> 55.
  EXPECT_EQ(deleted_ids(p), (std::vector<std::string>{"b/t-216000", "a/t-180000", "d/t-25200",
                                                      "b/t-18000", "a/t-10800", "a/t-7200"}));
  ASSERT_EQ(p.deletions.size(), 6u);
  EXPECT_EQ(p.deletions[0].reason, "older than max-age 2 d (age 2 d 12 h)");
  EXPECT_EQ(p.deletions[1].reason, "keep=2: 3 newer dumps of 'a'");
  EXPECT_EQ(p.deletions[2].reason, "incomplete dump with no running job");
  EXPECT_EQ(p.deletions[3].reason.rfind("store over max-total", 0), 0u);
  EXPECT_EQ(p.deletions[4].reason, "keep=2: 2 newer dumps of 'a'");
  EXPECT_EQ(p.deletions[5].reason.rfind("store over max-total", 0), 0u);
  EXPECT_EQ(p.bytes_after, 55 * kMiB);
  EXPECT_FALSE(p.over_budget);
  for (std::size_t i = 1; i < p.deletions.size(); ++i) {
    EXPECT_LE(p.deletions[i - 1].dump.time, p.deletions[i].dump.time);
  }
}

} // namespace
} // namespace guestdump::policies
