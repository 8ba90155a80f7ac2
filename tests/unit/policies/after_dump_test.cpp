#include <gtest/gtest.h>

#include <guestdump/policies/after_dump.h>

namespace guestdump::policies {
namespace {

using enum GuestStep;
using Steps = std::vector<GuestStep>;

AfterDumpPlan plan(Trigger t, AfterDump p, GuestRunState s, bool paused_by_us = false,
                   bool persistent = true) {
  return plan_after_dump({.trigger = t,
                          .policy = p,
                          .state = s,
                          .paused_by_us = paused_by_us,
                          .persistent = persistent});
}

TEST(AfterDump, PanicFollowsOnCrashSemantics) {
  const auto crashed = GuestRunState::kCrashed;
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kPreserve, crashed).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kPreserve, crashed).reason,
            "preserve: leave the crashed guest");
  // libvirt leaves a reset crashed guest PAUSED/CRASHED: reset, then resume.
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kReset, crashed).steps, (Steps{kReset, kResume}));
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kDestroy, crashed).steps, Steps{kDestroy});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kRestart, crashed).steps, (Steps{kDestroy, kStart}));
  const AfterDumpPlan resume = plan(Trigger::kPanic, AfterDump::kResume, crashed);
  EXPECT_EQ(resume.steps, Steps{});
  EXPECT_EQ(resume.reason, "resume: a panicked guest cannot continue, left crashed");
}

TEST(AfterDump, RestartOfTransientGuestResets) {
  const AfterDumpPlan p =
      plan(Trigger::kPanic, AfterDump::kRestart, GuestRunState::kCrashed, false, false);
  EXPECT_EQ(p.steps, (Steps{kReset, kResume}));
  EXPECT_NE(p.reason.find("transient"), std::string::npos);
}

TEST(AfterDump, ShutOffGuest) {
  const auto off = GuestRunState::kShutOff;
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kRestart, off).steps, Steps{kStart});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kRestart, off, false, false).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kDestroy, off).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kReset, off).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kResume, off).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kPanic, AfterDump::kPreserve, off).steps, Steps{});
}

TEST(AfterDump, CrashLoadedIsNeverKilled) {
  for (AfterDump p : {AfterDump::kPreserve, AfterDump::kResume, AfterDump::kReset,
                      AfterDump::kDestroy, AfterDump::kRestart}) {
    EXPECT_EQ(plan(Trigger::kCrashLoaded, p, GuestRunState::kRunning).steps, Steps{})
        << to_string(p);
    EXPECT_EQ(plan(Trigger::kCrashLoaded, p, GuestRunState::kPaused, true).steps, Steps{kResume})
        << to_string(p);
  }
}

TEST(AfterDump, HangPausedByUs) {
  const auto paused = GuestRunState::kPaused;
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kPreserve, paused, true).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kPreserve, paused, true).reason,
            "preserve: leave the guest paused");
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kResume, paused, true).steps, Steps{kResume});
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kReset, paused, true).steps, (Steps{kReset, kResume}));
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kDestroy, paused, true).steps, Steps{kDestroy});
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kRestart, paused, true).steps,
            (Steps{kDestroy, kStart}));
}

TEST(AfterDump, HangPausedBySomeoneElseIsNotResumed) {
  const AfterDumpPlan p = plan(Trigger::kHang, AfterDump::kResume, GuestRunState::kPaused, false);
  EXPECT_EQ(p.steps, Steps{});
  EXPECT_EQ(p.reason, "resume: the guest was paused by someone else, left paused");
}

TEST(AfterDump, HangStillRunning) {
  // libvirt resumed the guest after a non-live dump: nothing to resume, reset needs no resume.
  const auto running = GuestRunState::kRunning;
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kPreserve, running).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kResume, running).steps, Steps{});
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kResume, running).reason,
            "resume: the guest is already running");
  EXPECT_EQ(plan(Trigger::kHang, AfterDump::kReset, running).steps, Steps{kReset});
}

TEST(AfterDump, WatchdogPauseIsResumable) {
  // The watchdog (action pause/dump) paused the guest, not us; resume still applies.
  EXPECT_EQ(plan(Trigger::kWatchdog, AfterDump::kResume, GuestRunState::kPaused, false).steps,
            Steps{kResume});
  EXPECT_EQ(plan(Trigger::kWatchdog, AfterDump::kPreserve, GuestRunState::kPaused, false).steps,
            Steps{});
}

TEST(AfterDump, ManualLeavesTheGuestAsFound) {
  for (AfterDump p : {AfterDump::kPreserve, AfterDump::kDestroy, AfterDump::kRestart}) {
    EXPECT_EQ(plan(Trigger::kManual, p, GuestRunState::kPaused, true).steps, Steps{kResume});
    EXPECT_EQ(plan(Trigger::kManual, p, GuestRunState::kPaused, false).steps, Steps{});
    EXPECT_EQ(plan(Trigger::kManual, p, GuestRunState::kCrashed, false).steps, Steps{});
  }
}

TEST(AfterDump, PausedByUsFlagIgnoredWhenNotPaused) {
  // A stale flag on a running guest must not produce a resume.
  EXPECT_EQ(plan(Trigger::kCrashLoaded, AfterDump::kPreserve, GuestRunState::kRunning, true).steps,
            Steps{});
  EXPECT_EQ(plan(Trigger::kManual, AfterDump::kPreserve, GuestRunState::kRunning, true).steps,
            Steps{});
}

TEST(AfterDump, Names) {
  EXPECT_EQ(to_string(Trigger::kCrashLoaded), "crashloaded");
  EXPECT_EQ(to_string(Trigger::kHang), "hang");
  EXPECT_EQ(to_string(kDestroy), "destroy");
}

} // namespace
} // namespace guestdump::policies
