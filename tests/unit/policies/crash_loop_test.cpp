#include <gtest/gtest.h>

#include <guestdump/policies/crash_loop.h>

namespace guestdump::policies {
namespace {

using namespace std::chrono_literals;

const WallTime kT0 = WallTime{} + std::chrono::hours(24 * 365 * 56);

CrashLoopLimiter limiter(std::uint32_t dumps = 3, Duration window = 1h) {
  return CrashLoopLimiter(CrashLoopPolicy{.dumps = dumps, .window = window});
}

TEST(CrashLoop, AllowsKThenRecordsOnly) {
  CrashLoopLimiter l = limiter();
  EXPECT_TRUE(l.admit("g", kT0).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 1min).dump);
  const CrashLoopDecision third = l.admit("g", kT0 + 2min);
  EXPECT_TRUE(third.dump);
  EXPECT_EQ(third.reason, "dump 3 of at most 3 within 1 h");
  const CrashLoopDecision fourth = l.admit("g", kT0 + 3min);
  EXPECT_FALSE(fourth.dump);
  EXPECT_EQ(fourth.retry_after, 57min);
  EXPECT_EQ(fourth.reason, "crash loop: 3 dumps of 'g' within 1 h (crash-loop-dumps=3); recording "
                           "the crash without a dump for the next 57 min");
  EXPECT_EQ(l.count("g"), 3u);
}

TEST(CrashLoop, GuestsAreIndependent) {
  CrashLoopLimiter l = limiter(1);
  EXPECT_TRUE(l.admit("a", kT0).dump);
  EXPECT_FALSE(l.admit("a", kT0 + 1s).dump);
  EXPECT_TRUE(l.admit("b", kT0 + 2s).dump);
}

TEST(CrashLoop, WindowBoundaryAgeEqualWindowHasLeft) {
  CrashLoopLimiter l = limiter(1, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  EXPECT_FALSE(l.admit("g", kT0 + 1h - 1ms).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 1h + 0ms).dump);
}

TEST(CrashLoop, SlidingNotFixedWindow) {
  CrashLoopLimiter l = limiter(2, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 50min).dump);
  EXPECT_FALSE(l.admit("g", kT0 + 59min).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 60min).dump);   // the first left; 50min and 60min remain
  EXPECT_FALSE(l.admit("g", kT0 + 100min).dump); // 50min still inside (age 50 min)
  EXPECT_TRUE(l.admit("g", kT0 + 110min).dump);
}

TEST(CrashLoop, RecordedOnlyCrashesDoNotExtendTheLockout) {
  CrashLoopLimiter l = limiter(1, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  for (int i = 1; i < 60; ++i) EXPECT_FALSE(l.admit("g", kT0 + i * 1min).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 60min).dump);
}

TEST(CrashLoop, ClockGoingBackwardsNeitherUnlocksNorLocksForever) {
  CrashLoopLimiter l = limiter(1, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  // The clock is set back a year: still locked (no time passed)...
  EXPECT_FALSE(l.admit("g", kT0 - 8760h).dump);
  // ...and an hour of real time after the jump unlocks it, long before the clock catches up.
  EXPECT_FALSE(l.admit("g", kT0 - 8760h + 59min).dump);
  EXPECT_TRUE(l.admit("g", kT0 - 8760h + 60min).dump);
}

TEST(CrashLoop, SmallBackwardStepsCountAsNoTime) {
  CrashLoopLimiter l = limiter(1, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  EXPECT_FALSE(l.admit("g", kT0 + 30min).dump);
  EXPECT_FALSE(l.admit("g", kT0 + 20min).dump); // back 10 min: nothing elapsed
  EXPECT_FALSE(l.admit("g", kT0 + 49min).dump); // 30 + 0 + 29 = 59 min
  EXPECT_TRUE(l.admit("g", kT0 + 50min).dump);  // 60 min of timeline
}

TEST(CrashLoop, ClockGoingForwardCountsAsElapsed) {
  CrashLoopLimiter l = limiter(1, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 48h).dump); // a long quiet gap and a jump look alike
}

TEST(CrashLoop, SeedFromStoreAfterRestart) {
  CrashLoopLimiter l = limiter(2, 1h);
  l.seed("g", {kT0 - 10min, kT0 - 70min, kT0 - 30min}, kT0);
  EXPECT_EQ(l.count("g"), 2u); // the 70-minute-old one is outside
  const CrashLoopDecision d = l.admit("g", kT0);
  EXPECT_FALSE(d.dump);
  EXPECT_EQ(d.retry_after, 30min);
  EXPECT_TRUE(l.admit("g", kT0 + 30min).dump);
}

TEST(CrashLoop, SeedWithFutureTimesTreatsThemAsNow) {
  CrashLoopLimiter l = limiter(1, 1h);
  l.seed("g", {kT0 + 8760h}, kT0); // the store says next year: the clock went back
  EXPECT_FALSE(l.admit("g", kT0 + 59min).dump);
  EXPECT_TRUE(l.admit("g", kT0 + 60min).dump); // not locked until next year
}

TEST(CrashLoop, ZeroDumpsTurnsTheLimitOff) {
  CrashLoopLimiter l = limiter(0, 1h);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(l.admit("g", kT0 + i * 1s).dump);
  EXPECT_LE(l.count("g"), 1u); // history stays bounded
}

TEST(CrashLoop, HistoryIsBoundedByTheLimit) {
  CrashLoopLimiter l = limiter(2, 24h);
  for (int i = 0; i < 50; ++i) (void)l.admit("g", kT0 + i * 1s);
  EXPECT_EQ(l.count("g"), 2u);
}

TEST(CrashLoop, PolicyReloadAndForget) {
  CrashLoopLimiter l = limiter(1, 1h);
  EXPECT_TRUE(l.admit("g", kT0).dump);
  EXPECT_FALSE(l.admit("g", kT0 + 1min).dump);
  l.set_policy({.dumps = 2, .window = 1h});
  EXPECT_TRUE(l.admit("g", kT0 + 2min).dump);
  EXPECT_FALSE(l.admit("g", kT0 + 3min).dump);
  l.forget("g");
  EXPECT_EQ(l.count("g"), 0u);
  EXPECT_TRUE(l.admit("g", kT0 + 4min).dump);
}

} // namespace
} // namespace guestdump::policies
