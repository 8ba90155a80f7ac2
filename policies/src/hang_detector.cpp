#include "text.h"
#include <guestdump/policies/hang_detector.h>

namespace guestdump::policies {
namespace {

enum class CpuPattern { kUnknown, kStalled, kBusy, kMixed };

std::string_view to_string(CpuPattern p) {
  switch (p) {
  case CpuPattern::kUnknown:
    return "vCPU time unknown";
  case CpuPattern::kStalled:
    return "vCPUs stalled";
  case CpuPattern::kBusy:
    return "vCPUs saturated";
  case CpuPattern::kMixed:
    return "vCPUs progressing";
  }
  return "?";
}

bool excluded(Lifecycle l) {
  return l == Lifecycle::kPaused || l == Lifecycle::kMigrating || l == Lifecycle::kShuttingDown ||
         l == Lifecycle::kShutOff || l == Lifecycle::kPmSuspended;
}

std::string_view lifecycle_name(Lifecycle l) {
  switch (l) {
  case Lifecycle::kRunning:
    return "running";
  case Lifecycle::kPaused:
    return "paused";
  case Lifecycle::kMigrating:
    return "migrating";
  case Lifecycle::kShuttingDown:
    return "shutting down";
  case Lifecycle::kShutOff:
    return "shut off";
  case Lifecycle::kCrashed:
    return "crashed";
  case Lifecycle::kPmSuspended:
    return "suspended to memory";
  }
  return "?";
}

} // namespace

HangVerdict verdict(HangState state) {
  switch (state) {
  case HangState::kSuspect:
    return HangVerdict::kSuspect;
  case HangState::kWaitingForPanic:
  case HangState::kHung:
    return HangVerdict::kHung;
  default:
    return HangVerdict::kNone;
  }
}

std::string_view to_string(HangState state) {
  switch (state) {
  case HangState::kOff:
    return "off";
  case HangState::kInactive:
    return "inactive";
  case HangState::kGrace:
    return "grace";
  case HangState::kHealthy:
    return "healthy";
  case HangState::kSuspect:
    return "suspect";
  case HangState::kWaitingForPanic:
    return "waiting-for-panic";
  case HangState::kHung:
    return "hung";
  case HangState::kCrashKernel:
    return "crash-kernel";
  }
  return "?";
}

void HangDetector::clear_evidence() {
  bad_time_ = Duration::zero();
  bad_samples_ = 0;
  nmi_elapsed_ = Duration::zero();
}

void HangDetector::restart() {
  clear_evidence();
  latched_ = false;
  agent_proven_ = false;
  need_grace_ = true;
  if (state_ == HangState::kCrashKernel) state_ = HangState::kInactive;
}

HangDecision HangDetector::declare_hung(std::string why) {
  clear_evidence();
  // A declared hang (a watchdog can fire during a grace period) ends any grace period.
  grace_left_ = Duration::zero();
  need_grace_ = false;
  switch (action_) {
  case HangAction::kNmi:
  case HangAction::kNmiThenDump:
    state_ = HangState::kWaitingForPanic;
    return {state_, HangStep::kInjectNmi,
            "hung (" + why + "): inject an NMI and wait " +
                detail::format_duration(policy_.nmi_timeout) + " for a panic"};
  case HangAction::kDump:
    state_ = HangState::kHung;
    latched_ = true;
    return {state_, HangStep::kDump, "hung (" + why + "): dump from the host"};
  case HangAction::kLog:
    break;
  }
  state_ = HangState::kHung;
  latched_ = true;
  return {state_, HangStep::kReport, "hung (" + why + "): hang-action=log, nothing else done"};
}

HangDecision HangDetector::nmi_gave_nothing(std::string why) {
  state_ = HangState::kHung;
  latched_ = true;
  if (action_ == HangAction::kNmiThenDump) {
    return {state_, HangStep::kDump, why + ": dump from the host"};
  }
  return {state_, HangStep::kReport, why + ": hang-action=nmi, nothing else done"};
}

HangDecision HangDetector::on_sample(const HangSample& s) {
  // Interval since the previous sample, trusted only when it is plausible.
  std::optional<Duration> step;
  std::string jump;
  if (last_at_) {
    const Duration delta = s.at - *last_at_;
    if (delta >= Duration::zero() && delta <= 3 * policy_.interval) {
      step = delta;
    } else {
      jump = "clock jump of " + detail::format_duration(delta) + ", interval ignored";
    }
  }
  std::optional<std::uint64_t> progress;
  bool counters_reset = false;
  if (s.vcpu_time_ns && last_vcpu_) {
    if (*s.vcpu_time_ns < *last_vcpu_) {
      counters_reset = true; // a new QEMU process: the guest was restarted
    } else if (step) {
      progress = *s.vcpu_time_ns - *last_vcpu_;
    }
  }
  last_at_ = s.at;
  last_vcpu_ = s.vcpu_time_ns;
  const std::optional<Lifecycle> previous = lifecycle_;
  lifecycle_ = s.lifecycle;

  if (s.lifecycle == Lifecycle::kCrashed) {
    const bool waited = state_ == HangState::kWaitingForPanic;
    restart();
    state_ = HangState::kInactive;
    return {state_, HangStep::kNone,
            waited ? "panicked after the NMI; the panic trigger captures it"
                   : "crashed; the panic trigger captures it"};
  }
  if (excluded(s.lifecycle) || s.job_active) {
    clear_evidence();
    if (s.lifecycle == Lifecycle::kShutOff) restart();
    need_grace_ = true;
    state_ = HangState::kInactive;
    return {state_, HangStep::kNone,
            s.job_active && !excluded(s.lifecycle)
                ? std::string("held by a libvirt job: never hung")
                : std::string(lifecycle_name(s.lifecycle)) + ": never hung"};
  }
  if (counters_reset) restart();
  if (previous && *previous != Lifecycle::kRunning) need_grace_ = true;

  // With hang-timeout=0 there is no sampling-based detection, but a hang declared from a
  // watchdog event still runs its NMI wait and latch below.
  const bool off = policy_.timeout == Duration::zero();
  const HangState idle = off ? HangState::kOff : HangState::kHealthy;

  if (s.agent == AgentStatus::kAnswered) agent_proven_ = true;
  if (s.agent == AgentStatus::kNotConnected || s.agent == AgentStatus::kNotInstalled) {
    agent_proven_ = false; // a reconnected agent must answer again before its silence counts
  }

  if (state_ == HangState::kCrashKernel) {
    return {state_, HangStep::kNone, "the guest's own kdump kernel runs"};
  }

  if (need_grace_ && !off) {
    need_grace_ = false;
    clear_evidence();
    state_ = latched_ ? HangState::kHung : HangState::kGrace;
    grace_left_ = policy_.grace;
    if (grace_left_ > Duration::zero()) {
      return {state_, HangStep::kNone,
              "grace period of " + detail::format_duration(policy_.grace) + " started"};
    }
  }
  if (grace_left_ > Duration::zero() && !off) {
    if (step) grace_left_ -= *step;
    if (grace_left_ > Duration::zero()) {
      // A latched hang stays latched through a pause; only an answer or a restart clears it.
      if (s.agent == AgentStatus::kAnswered && latched_) latched_ = false;
      if (!latched_) state_ = HangState::kGrace;
      return {state_, HangStep::kNone,
              jump.empty() ? "in grace period" : "in grace period; " + jump};
    }
    if (!latched_) state_ = HangState::kHealthy;
  }

  if (s.agent == AgentStatus::kAnswered) {
    const bool recovered = state_ == HangState::kSuspect || state_ == HangState::kWaitingForPanic ||
                           state_ == HangState::kHung;
    clear_evidence();
    latched_ = false;
    state_ = idle;
    return {state_, HangStep::kNone, recovered ? "the guest agent answers again" : "agent answers"};
  }

  if (state_ == HangState::kWaitingForPanic) {
    if (!step) return {state_, HangStep::kNone, "waiting for a panic; " + jump};
    nmi_elapsed_ += *step;
    if (nmi_elapsed_ >= policy_.nmi_timeout) {
      return nmi_gave_nothing("no panic " + detail::format_duration(nmi_elapsed_) +
                              " after the NMI");
    }
    return {state_, HangStep::kNone, "waiting for a panic after the NMI"};
  }

  if (latched_) {
    state_ = HangState::kHung;
    return {state_, HangStep::kNone, "hang already handled; waiting for the guest to answer"};
  }
  if (off) {
    state_ = HangState::kOff;
    return {state_, HangStep::kNone, "hang detection off (hang-timeout=0)"};
  }

  if (s.agent != AgentStatus::kFailed || !agent_proven_) {
    std::string why;
    switch (s.agent) {
    case AgentStatus::kUnknown:
      why = "agent not probed";
      break;
    case AgentStatus::kNotInstalled:
      why = "no guest agent: no hang signal";
      break;
    case AgentStatus::kNotConnected:
      why = "guest agent not connected: no hang signal";
      break;
    case AgentStatus::kFailed:
      why = "agent has not answered since boot: no hang signal";
      break;
    case AgentStatus::kAnswered:
      break;
    }
    if (s.agent == AgentStatus::kUnknown) return {state_, HangStep::kNone, why}; // no news
    clear_evidence();
    state_ = idle;
    return {state_, HangStep::kNone, why};
  }

  // The agent is proven and failing: classify the vCPUs.
  if (!step) {
    state_ = HangState::kSuspect;
    if (bad_samples_ == 0) bad_samples_ = 1; // the evidence starts here
    return {state_, HangStep::kNone, "agent not answering; " + jump};
  }
  CpuPattern pattern = CpuPattern::kUnknown;
  if (progress && step->count() > 0) {
    const double wall_ns =
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(*step).count()) *
        static_cast<double>(s.vcpus == 0 ? 1 : s.vcpus);
    const double share = 100.0 * static_cast<double>(*progress) / wall_ns;
    if (share <= static_cast<double>(policy_.idle_percent))
      pattern = CpuPattern::kStalled;
    else if (share >= static_cast<double>(policy_.busy_percent))
      pattern = CpuPattern::kBusy;
    else
      pattern = CpuPattern::kMixed;
  }
  state_ = HangState::kSuspect;
  if (pattern == CpuPattern::kMixed) {
    return {state_, HangStep::kNone,
            "agent not answering but vCPUs progressing: inconclusive, no evidence counted"};
  }
  if (bad_samples_ == 0) {
    bad_samples_ = 1;
  } else {
    ++bad_samples_;
    bad_time_ += *step;
  }
  const std::string why = "agent not answering for " + detail::format_duration(bad_time_) + ", " +
                          std::string(to_string(pattern));
  if (bad_samples_ >= policy_.samples && bad_time_ >= policy_.timeout) return declare_hung(why);
  return {state_, HangStep::kNone, why};
}

HangDecision HangDetector::on_event(GuestEvent event) {
  switch (event) {
  case GuestEvent::kWatchdog:
    if (lifecycle_ &&
        (*lifecycle_ == Lifecycle::kMigrating || *lifecycle_ == Lifecycle::kShuttingDown ||
         *lifecycle_ == Lifecycle::kShutOff || *lifecycle_ == Lifecycle::kCrashed)) {
      return {state_, HangStep::kNone,
              "watchdog fired while " + std::string(lifecycle_name(*lifecycle_)) + ": ignored"};
    }
    if (state_ == HangState::kCrashKernel) {
      return {state_, HangStep::kNone, "watchdog fired under the guest's kdump kernel: ignored"};
    }
    if (state_ == HangState::kWaitingForPanic || latched_) {
      return {state_, HangStep::kNone, "watchdog fired; hang already being handled"};
    }
    return declare_hung("watchdog fired");
  case GuestEvent::kPanicked: {
    const bool waited = state_ == HangState::kWaitingForPanic;
    restart();
    state_ = HangState::kInactive;
    return {state_, HangStep::kNone,
            waited ? "panicked after the NMI; the panic trigger captures it"
                   : "panicked; the panic trigger captures it"};
  }
  case GuestEvent::kCrashLoaded:
    restart();
    need_grace_ = false;
    state_ = HangState::kCrashKernel;
    return {state_, HangStep::kNone, "crash kernel loaded: the guest's own kdump runs"};
  case GuestEvent::kReboot:
    restart();
    state_ = policy_.timeout == Duration::zero() ? HangState::kOff : HangState::kGrace;
    return {state_, HangStep::kNone, "guest rebooted"};
  case GuestEvent::kNmiFailed:
    if (state_ != HangState::kWaitingForPanic) {
      return {state_, HangStep::kNone, "NMI failure reported while not waiting: ignored"};
    }
    return nmi_gave_nothing("NMI injection failed");
  }
  return {state_, HangStep::kNone, ""};
}

} // namespace guestdump::policies
