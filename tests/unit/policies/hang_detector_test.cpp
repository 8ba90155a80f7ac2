#include <gtest/gtest.h>

#include <guestdump/policies/hang_detector.h>

namespace guestdump::policies {
namespace {

using namespace std::chrono_literals;
using A = AgentStatus;
using L = Lifecycle;
using S = HangState;

// timeout 60 s, grace 30 s, interval 10 s, 3 samples, NMI wait 20 s, busy 90%, idle 2%.
HangPolicy test_policy() {
  return {.timeout = 60s,
          .grace = 30s,
          .interval = 10s,
          .samples = 3,
          .nmi_timeout = 20s,
          .busy_percent = 90,
          .idle_percent = 2};
}

// Drives a detector with a simulated clock and vCPU counter (2 vCPUs).
struct Sim {
  explicit Sim(HangAction action = HangAction::kNmiThenDump, HangPolicy policy = test_policy())
      : d(policy, action) {}

  // Advances the clock by `dt`, the vCPUs by `cpu_share` of it, and feeds one sample.
  HangDecision feed(A agent, double cpu_share = 0.0, L lifecycle = L::kRunning, Duration dt = 10s,
                    bool job = false) {
    t += dt;
    if (dt > 0s) {
      vcpu += static_cast<std::uint64_t>(
          cpu_share * static_cast<double>(std::chrono::nanoseconds(dt).count()) * vcpus);
    }
    return d.on_sample(
        {.at = t,
         .lifecycle = lifecycle,
         .job_active = job,
         .agent = agent,
         .vcpu_time_ns = with_cpu ? std::optional<std::uint64_t>(vcpu) : std::nullopt,
         .vcpus = vcpus});
  }

  // Start, pass the 30 s grace with a working agent: healthy and agent proven.
  void boot_healthy() {
    EXPECT_EQ(feed(A::kAnswered, 0.3).state, S::kGrace);
    for (int i = 0; i < 3; ++i) feed(A::kAnswered, 0.3);
    ASSERT_EQ(d.state(), S::kHealthy);
  }

  // Feeds failing samples until something other than kNone is asked for; returns how many.
  int fail_until_action(double cpu_share = 0.0, int limit = 100) {
    for (int i = 1; i <= limit; ++i) {
      last = feed(A::kFailed, cpu_share);
      if (last.step != HangStep::kNone) return i;
    }
    return -1;
  }

  HangDetector d;
  MonoTime t = MonoTime{} + 1000h;
  std::uint64_t vcpu = 5'000'000'000;
  std::uint32_t vcpus = 2;
  bool with_cpu = true;
  HangDecision last;
};

TEST(HangDetector, GraceThenHealthy) {
  Sim s;
  const HangDecision first = s.feed(A::kAnswered);
  EXPECT_EQ(first.state, S::kGrace);
  EXPECT_EQ(first.reason, "grace period of 30 s started");
  EXPECT_EQ(s.feed(A::kAnswered).state, S::kGrace);   // 10 s
  EXPECT_EQ(s.feed(A::kAnswered).state, S::kGrace);   // 20 s
  EXPECT_EQ(s.feed(A::kAnswered).state, S::kHealthy); // 30 s
}

TEST(HangDetector, FailuresDuringGraceAreNotEvidence) {
  Sim s;
  s.feed(A::kAnswered);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(s.feed(A::kFailed).state, S::kGrace);
  // Grace over at 30 s: the evidence starts only now, so a full timeout is still needed.
  EXPECT_EQ(s.fail_until_action(), 7);
}

TEST(HangDetector, StalledVcpusAndSilentAgentIsAHangAfterTimeout) {
  Sim s;
  s.boot_healthy();
  // First failing sample starts the evidence at 0 s; 60 s of evidence needs 6 more samples.
  for (int i = 1; i <= 6; ++i) {
    const HangDecision d = s.feed(A::kFailed, 0.0);
    EXPECT_EQ(d.state, S::kSuspect) << i;
    EXPECT_EQ(d.step, HangStep::kNone) << i;
    EXPECT_EQ(verdict(d.state), HangVerdict::kSuspect);
  }
  const HangDecision hung = s.feed(A::kFailed, 0.0);
  EXPECT_EQ(hung.step, HangStep::kInjectNmi);
  EXPECT_EQ(hung.state, S::kWaitingForPanic);
  EXPECT_EQ(verdict(hung.state), HangVerdict::kHung);
  EXPECT_EQ(hung.reason, "hung (agent not answering for 1 min, vCPUs stalled): inject an NMI and "
                         "wait 20 s for a panic");
}

TEST(HangDetector, SaturatedVcpusCount) {
  Sim s;
  s.boot_healthy();
  EXPECT_EQ(s.fail_until_action(1.0), 7);
  EXPECT_NE(s.last.reason.find("vCPUs saturated"), std::string::npos) << s.last.reason;
}

TEST(HangDetector, UnknownVcpuTimeCounts) {
  Sim s;
  s.with_cpu = false;
  s.boot_healthy();
  EXPECT_EQ(s.fail_until_action(), 7);
  EXPECT_NE(s.last.reason.find("vCPU time unknown"), std::string::npos) << s.last.reason;
}

TEST(HangDetector, ProgressingVcpusAreInconclusive) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 200; ++i) {
    const HangDecision d = s.feed(A::kFailed, 0.5);
    ASSERT_EQ(d.step, HangStep::kNone);
    ASSERT_EQ(d.state, S::kSuspect);
    ASSERT_EQ(d.reason,
              "agent not answering but vCPUs progressing: inconclusive, no evidence counted");
  }
  // Boundaries: exactly idle% and busy% count as stalled and saturated.
  Sim b;
  b.boot_healthy();
  EXPECT_EQ(b.fail_until_action(0.90), 7);
  Sim c;
  c.boot_healthy();
  EXPECT_EQ(c.fail_until_action(0.02), 7);
  Sim m;
  m.boot_healthy();
  EXPECT_EQ(m.fail_until_action(0.03, 50), -1);
}

TEST(HangDetector, SampleCountIsRequiredToo) {
  // A long interval: 60 s of evidence after 2 samples is not enough, 3 samples are needed.
  HangPolicy p = test_policy();
  p.interval = 60s;
  Sim s(HangAction::kDump, p);
  s.feed(A::kAnswered, 0.3, L::kRunning, 60s);
  s.feed(A::kAnswered, 0.3, L::kRunning, 60s); // grace over
  ASSERT_EQ(s.d.state(), S::kHealthy);
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kRunning, 60s).step, HangStep::kNone); // sample 1, 0 s
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kRunning, 60s).step, HangStep::kNone); // sample 2, 60 s
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kRunning, 60s).step, HangStep::kDump); // sample 3
}

TEST(HangDetector, AgentNotInstalledIsNoSignal) {
  Sim s;
  for (int i = 0; i < 400; ++i) { // over an hour, vCPUs flat
    const HangDecision d = s.feed(A::kNotInstalled, 0.0);
    ASSERT_EQ(d.step, HangStep::kNone);
    ASSERT_NE(d.state, S::kSuspect);
  }
  EXPECT_EQ(s.d.state(), S::kHealthy);
  EXPECT_EQ(s.feed(A::kNotInstalled).reason, "no guest agent: no hang signal");
}

TEST(HangDetector, AgentThatNeverAnsweredIsNoSignal) {
  Sim s;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(s.feed(A::kFailed, 0.0).step, HangStep::kNone);
  EXPECT_EQ(s.d.state(), S::kHealthy);
  EXPECT_EQ(s.feed(A::kFailed).reason, "agent has not answered since boot: no hang signal");
}

TEST(HangDetector, DisconnectedAgentMustAnswerAgainBeforeSilenceCounts) {
  Sim s;
  s.boot_healthy();
  EXPECT_EQ(s.feed(A::kNotConnected).reason, "guest agent not connected: no hang signal");
  EXPECT_EQ(s.fail_until_action(0.0, 30), -1);
  s.feed(A::kAnswered);
  EXPECT_EQ(s.fail_until_action(), 7);
}

TEST(HangDetector, AgentProofIsVisible) {
  Sim s;
  EXPECT_FALSE(s.d.agent_proven());
  s.feed(A::kFailed); // connected but silent since boot: not proven
  EXPECT_FALSE(s.d.agent_proven());
  s.feed(A::kAnswered); // during grace: the answer still proves the agent
  EXPECT_EQ(s.d.state(), S::kGrace);
  EXPECT_TRUE(s.d.agent_proven());
  s.feed(A::kUnknown); // no news keeps it
  EXPECT_TRUE(s.d.agent_proven());
  s.feed(A::kFailed); // silence does not unprove it: that is the evidence
  EXPECT_TRUE(s.d.agent_proven());
  s.feed(A::kNotConnected);
  EXPECT_FALSE(s.d.agent_proven());
  s.feed(A::kAnswered);
  EXPECT_TRUE(s.d.agent_proven());
  s.feed(A::kFailed, 0.0, L::kShutOff);
  EXPECT_FALSE(s.d.agent_proven());
}

TEST(HangDetector, UnprobedSampleChangesNothing) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 3; ++i) s.feed(A::kFailed);
  EXPECT_EQ(s.feed(A::kUnknown).state, S::kSuspect);
  EXPECT_EQ(s.fail_until_action(), 4); // 3 + 4 failing samples, the unknown one not counted
}

TEST(HangDetector, RecoveryAfterSuspect) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(s.feed(A::kFailed).state, S::kSuspect);
  const HangDecision back = s.feed(A::kAnswered);
  EXPECT_EQ(back.state, S::kHealthy);
  EXPECT_EQ(back.reason, "the guest agent answers again");
  // Evidence starts over.
  EXPECT_EQ(s.fail_until_action(), 7);
}

TEST(HangDetector, NeverHungWhilePausedMigratingShuttingDownOrOff) {
  for (L l : {L::kPaused, L::kMigrating, L::kShuttingDown, L::kShutOff, L::kPmSuspended}) {
    Sim s;
    s.boot_healthy();
    for (int i = 0; i < 5; ++i) s.feed(A::kFailed);
    for (int i = 0; i < 500; ++i) {
      const HangDecision d = s.feed(A::kFailed, 0.0, l);
      ASSERT_EQ(d.state, S::kInactive);
      ASSERT_EQ(d.step, HangStep::kNone);
    }
    EXPECT_EQ(verdict(s.d.state()), HangVerdict::kNone);
    // Running again: a fresh grace period, then the full timeout from zero.
    EXPECT_EQ(s.feed(A::kAnswered).state, S::kGrace);
    for (int i = 0; i < 3; ++i) s.feed(A::kAnswered);
    EXPECT_EQ(s.fail_until_action(), 7);
  }
}

TEST(HangDetector, NeverHungWhileAJobHoldsTheGuest) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 100; ++i) {
    const HangDecision d = s.feed(A::kFailed, 0.0, L::kRunning, 10s, true);
    ASSERT_EQ(d.state, S::kInactive);
  }
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kRunning, 10s, true).reason,
            "held by a libvirt job: never hung");
}

TEST(HangDetector, ShutOffForgetsTheAgentProof) {
  Sim s;
  s.boot_healthy();
  s.feed(A::kFailed, 0.0, L::kShutOff);
  s.feed(A::kFailed, 0.0); // boots: grace
  for (int i = 0; i < 3; ++i) s.feed(A::kFailed);
  EXPECT_EQ(s.fail_until_action(0.0, 30), -1); // the new boot's agent never answered
}

TEST(HangDetector, ClockGoingBackwardsAddsNoEvidence) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 3; ++i) s.feed(A::kFailed); // 20 s of evidence
  const HangDecision jump = s.feed(A::kFailed, 0.0, L::kRunning, -1h);
  EXPECT_EQ(jump.state, S::kSuspect);
  EXPECT_EQ(jump.step, HangStep::kNone);
  EXPECT_NE(jump.reason.find("clock jump of -1 h"), std::string::npos) << jump.reason;
  // Not reset either: 4 more samples after the jump reach 60 s.
  EXPECT_EQ(s.fail_until_action(), 4);
}

TEST(HangDetector, ClockJumpingForwardIsNotInstantHang) {
  Sim s;
  s.boot_healthy();
  s.feed(A::kFailed);
  const HangDecision jump = s.feed(A::kFailed, 0.0, L::kRunning, 24h);
  EXPECT_EQ(jump.step, HangStep::kNone);
  EXPECT_EQ(jump.state, S::kSuspect);
  EXPECT_EQ(s.fail_until_action(), 6);
}

TEST(HangDetector, GapUpToThreeIntervalsIsTrusted) {
  Sim s;
  s.boot_healthy();
  s.feed(A::kFailed);
  s.feed(A::kFailed, 0.0, L::kRunning, 30s); // exactly 3 x interval: counted
  s.feed(A::kFailed, 0.0, L::kRunning, 30s); // 60 s, 3 samples
  EXPECT_EQ(s.d.state(), S::kWaitingForPanic);
  Sim t;
  t.boot_healthy();
  t.feed(A::kFailed);
  t.feed(A::kFailed, 0.0, L::kRunning, 30s + 1ms); // a jump: not counted
  t.feed(A::kFailed, 0.0, L::kRunning, 30s);
  EXPECT_EQ(t.d.state(), S::kSuspect);
}

TEST(HangDetector, ClockJumpsDoNotShortenGrace) {
  Sim s;
  s.feed(A::kAnswered);
  EXPECT_EQ(s.feed(A::kAnswered, 0.3, L::kRunning, 48h).state, S::kGrace);
  EXPECT_EQ(s.feed(A::kAnswered, 0.3, L::kRunning, -48h).state, S::kGrace);
  s.feed(A::kAnswered);
  s.feed(A::kAnswered);
  EXPECT_EQ(s.feed(A::kAnswered).state, S::kHealthy);
}

TEST(HangDetector, NmiThenPanicArrives) {
  Sim s;
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  ASSERT_EQ(s.last.step, HangStep::kInjectNmi);
  EXPECT_EQ(s.feed(A::kFailed).state, S::kWaitingForPanic);
  const HangDecision panic = s.d.on_event(GuestEvent::kPanicked);
  EXPECT_EQ(panic.state, S::kInactive);
  EXPECT_EQ(panic.step, HangStep::kNone);
  EXPECT_EQ(panic.reason, "panicked after the NMI; the panic trigger captures it");
  // Then the crashed state: no dump from the hang path, ever.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(s.feed(A::kFailed, 0.0, L::kCrashed).step, HangStep::kNone);
}

TEST(HangDetector, NmiThenCrashedSampleEndsTheWait) {
  Sim s;
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  // pvpanic: the guest is first seen paused, then crashed.
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kPaused).state, S::kInactive);
  const HangDecision crashed = s.feed(A::kFailed, 0.0, L::kCrashed);
  EXPECT_EQ(crashed.state, S::kInactive);
  EXPECT_EQ(crashed.step, HangStep::kNone);
}

TEST(HangDetector, NmiThenCrashLoadedEndsTheWait) {
  Sim s;
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  EXPECT_EQ(s.d.on_event(GuestEvent::kCrashLoaded).state, S::kCrashKernel);
  // The kdump kernel runs without an agent: silence is no hang, however long.
  for (int i = 0; i < 100; ++i) {
    const HangDecision d = s.feed(A::kFailed, 1.0);
    ASSERT_EQ(d.state, S::kCrashKernel);
    ASSERT_EQ(d.step, HangStep::kNone);
  }
  // The guest reboots after its kdump: grace, then normal detection.
  EXPECT_EQ(s.d.on_event(GuestEvent::kReboot).state, S::kGrace);
  EXPECT_EQ(s.feed(A::kAnswered).state, S::kGrace);
}

TEST(HangDetector, NmiThenNoPanicDumps) {
  Sim s;
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  EXPECT_EQ(s.feed(A::kFailed).step, HangStep::kNone); // 10 s
  const HangDecision dump = s.feed(A::kFailed);        // 20 s = nmi-timeout
  EXPECT_EQ(dump.step, HangStep::kDump);
  EXPECT_EQ(dump.state, S::kHung);
  EXPECT_EQ(dump.reason, "no panic 20 s after the NMI: dump from the host");
}

TEST(HangDetector, NmiWaitIgnoresClockJumps) {
  Sim s;
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kRunning, 1h).step, HangStep::kNone);
  EXPECT_EQ(s.feed(A::kFailed, 0.0, L::kRunning, -2h).step, HangStep::kNone);
  EXPECT_EQ(s.feed(A::kFailed).step, HangStep::kNone);
  EXPECT_EQ(s.feed(A::kFailed).step, HangStep::kDump);
}

TEST(HangDetector, NmiOnlyPolicyReportsWithoutDumping) {
  Sim s(HangAction::kNmi);
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  EXPECT_EQ(s.last.step, HangStep::kInjectNmi);
  s.feed(A::kFailed);
  const HangDecision d = s.feed(A::kFailed);
  EXPECT_EQ(d.step, HangStep::kReport);
  EXPECT_EQ(d.reason, "no panic 20 s after the NMI: hang-action=nmi, nothing else done");
  for (int i = 0; i < 50; ++i) ASSERT_EQ(s.feed(A::kFailed).step, HangStep::kNone);
}

TEST(HangDetector, NmiInjectionFailureEscalates) {
  Sim s;
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  const HangDecision d = s.d.on_event(GuestEvent::kNmiFailed);
  EXPECT_EQ(d.step, HangStep::kDump);
  EXPECT_EQ(d.reason, "NMI injection failed: dump from the host");
  EXPECT_EQ(s.d.on_event(GuestEvent::kNmiFailed).step, HangStep::kNone); // not waiting any more
}

TEST(HangDetector, DumpAndLogPolicies) {
  Sim dump(HangAction::kDump);
  dump.boot_healthy();
  ASSERT_EQ(dump.fail_until_action(), 7);
  EXPECT_EQ(dump.last.step, HangStep::kDump);
  EXPECT_EQ(dump.last.state, S::kHung);
  Sim log(HangAction::kLog);
  log.boot_healthy();
  ASSERT_EQ(log.fail_until_action(), 7);
  EXPECT_EQ(log.last.step, HangStep::kReport);
}

TEST(HangDetector, OneHangIsActedOnOnce) {
  Sim s(HangAction::kDump);
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  // Still failing for an hour, through the pause and resume of the dump itself.
  s.feed(A::kFailed, 0.0, L::kPaused, 10s, true);
  for (int i = 0; i < 360; ++i) {
    const HangDecision d = s.feed(A::kFailed);
    ASSERT_EQ(d.step, HangStep::kNone) << i;
    ASSERT_EQ(d.state, S::kHung) << i;
  }
  // It answers: healthy, and a new hang is acted on again.
  EXPECT_EQ(s.feed(A::kAnswered).reason, "the guest agent answers again");
  EXPECT_EQ(s.d.state(), S::kHealthy);
  EXPECT_EQ(s.fail_until_action(), 7);
  EXPECT_EQ(s.last.step, HangStep::kDump);
}

TEST(HangDetector, RebootClearsTheLatch) {
  Sim s(HangAction::kDump);
  s.boot_healthy();
  ASSERT_EQ(s.fail_until_action(), 7);
  s.d.on_event(GuestEvent::kReboot);
  s.feed(A::kAnswered);
  for (int i = 0; i < 3; ++i) s.feed(A::kAnswered);
  EXPECT_EQ(s.d.state(), S::kHealthy);
}

TEST(HangDetector, VcpuCounterResetMeansRestart) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 5; ++i) s.feed(A::kFailed);
  s.vcpu = 0; // a new QEMU process
  EXPECT_EQ(s.feed(A::kFailed).state, S::kGrace);
  for (int i = 0; i < 3; ++i) s.feed(A::kFailed);
  EXPECT_EQ(s.fail_until_action(0.0, 30), -1); // agent unproven in the new boot
}

TEST(HangDetector, WatchdogWhileRunningIsAHang) {
  Sim s;
  s.boot_healthy();
  const HangDecision d = s.d.on_event(GuestEvent::kWatchdog);
  EXPECT_EQ(d.step, HangStep::kInjectNmi);
  EXPECT_EQ(d.reason, "hung (watchdog fired): inject an NMI and wait 20 s for a panic");
  // A second watchdog event while waiting does nothing new.
  EXPECT_EQ(s.d.on_event(GuestEvent::kWatchdog).step, HangStep::kNone);
  // No agent needed: a guest without one is caught by its watchdog.
  Sim n(HangAction::kDump);
  n.feed(A::kNotInstalled);
  EXPECT_EQ(n.d.on_event(GuestEvent::kWatchdog).step, HangStep::kDump); // even in grace
  EXPECT_EQ(n.feed(A::kNotInstalled).state, S::kHung);                  // grace ended by the hang
}

TEST(HangDetector, WatchdogDuringGraceKeepsWaitingForPanic) {
  Sim s;
  s.feed(A::kNotInstalled);
  ASSERT_EQ(s.d.on_event(GuestEvent::kWatchdog).step, HangStep::kInjectNmi);
  EXPECT_EQ(s.feed(A::kNotInstalled).state, S::kWaitingForPanic);
  EXPECT_EQ(s.feed(A::kNotInstalled).step, HangStep::kDump);
}

TEST(HangDetector, WatchdogIgnoredWhileShuttingDownOrMigrating) {
  for (L l : {L::kShuttingDown, L::kMigrating, L::kShutOff}) {
    Sim s;
    s.boot_healthy();
    s.feed(A::kAnswered, 0.0, l);
    const HangDecision d = s.d.on_event(GuestEvent::kWatchdog);
    EXPECT_EQ(d.step, HangStep::kNone);
    EXPECT_NE(d.reason.find(": ignored"), std::string::npos) << d.reason;
  }
  // The watchdog's own pause (action=pause) is not a reason to ignore it.
  Sim p;
  p.boot_healthy();
  p.feed(A::kAnswered, 0.0, L::kPaused);
  EXPECT_EQ(p.d.on_event(GuestEvent::kWatchdog).step, HangStep::kInjectNmi);
}

TEST(HangDetector, TimeoutZeroTurnsSamplingOffButNotTheWatchdog) {
  HangPolicy off = test_policy();
  off.timeout = 0s;
  Sim s(HangAction::kNmiThenDump, off);
  for (int i = 0; i < 5; ++i) s.feed(A::kAnswered);
  for (int i = 0; i < 100; ++i) {
    const HangDecision d = s.feed(A::kFailed, 0.0);
    ASSERT_EQ(d.state, S::kOff);
    ASSERT_EQ(d.step, HangStep::kNone);
  }
  ASSERT_EQ(s.d.on_event(GuestEvent::kWatchdog).step, HangStep::kInjectNmi);
  EXPECT_EQ(s.feed(A::kFailed).state, S::kWaitingForPanic);
  EXPECT_EQ(s.feed(A::kFailed).step, HangStep::kDump);
  EXPECT_EQ(s.feed(A::kFailed).state, S::kHung);
  EXPECT_EQ(s.feed(A::kAnswered).state, S::kOff);
}

TEST(HangDetector, PolicyReloadKeepsEvidence) {
  Sim s;
  s.boot_healthy();
  for (int i = 0; i < 4; ++i) s.feed(A::kFailed); // 30 s of evidence
  HangPolicy p = test_policy();
  p.timeout = 30s;
  s.d.set_policy(p, HangAction::kDump);
  EXPECT_EQ(s.feed(A::kFailed).step, HangStep::kDump);
}

TEST(HangDetector, Names) {
  EXPECT_EQ(to_string(S::kWaitingForPanic), "waiting-for-panic");
  EXPECT_EQ(verdict(S::kGrace), HangVerdict::kNone);
  EXPECT_EQ(verdict(S::kCrashKernel), HangVerdict::kNone);
  EXPECT_EQ(verdict(S::kHung), HangVerdict::kHung);
}

} // namespace
} // namespace guestdump::policies
