#pragma once
// Per-guest hang detection: a state machine fed by periodic samples and by guest events.
//
// Evidence. A guest is hung only on evidence that a healthy guest cannot produce:
//  - its guest agent, proven alive since the guest last started (it answered guest-ping at
//    least once), stops answering while connected, AND the vCPUs show a stuck pattern over the
//    interval: stalled (vCPU time <= hang-idle-percent of wall time, a deadlock) or saturated
//    (>= hang-busy-percent, a spin), or vCPU time is not available. Progress in between is
//    inconclusive: the guest stays suspect without accruing evidence;
//  - or its watchdog fires (not during migration, shutdown or shut-off).
// An agent that is not installed, not connected, or never answered since boot is no signal:
// such a guest is only caught by its watchdog (or its own panic). The proof is the detector's
// own observation, so a guest already hung when the daemon starts is caught only by its
// watchdog: a connected agent that has never answered may simply be broken.
//
// Timing. Evidence accrues as the time since the first failing sample, counted only over
// trusted intervals: a sample interval that goes backwards, or forward by more than 3 x
// hang-interval, is a clock jump (or a stalled daemon); it is skipped, the new reading becomes
// the reference, and nothing (grace, evidence, NMI wait) advances across it. "Hung" needs both
// hang-timeout of evidence and hang-samples consecutive failing samples.
//
// Exclusions. Paused, migrating, shutting-down, shut-off, PM-suspended or crashed guests, and
// guests held by a libvirt job (dump, save, snapshot), are never called hung: evidence is
// dropped and, once running again, the guest gets a fresh grace period (hang-grace), as it does
// after it starts, reboots, or the detector first sees it.
//
// Escalation (hang-action): log, dump, nmi (inject, then wait hang nmi-timeout for the panic)
// or nmi-then-dump (same, then dump from the host if no panic came). A panic or crash-loaded
// event ends the wait; the panic path captures the guest. Each hang is acted on once: the
// detector then stays hung (latched) until the agent answers again or the guest restarts.

#include <cstdint>
#include <optional>
#include <string>

#include <guestdump/policies/config.h>

namespace guestdump::policies {

enum class Lifecycle {
  kRunning,
  kPaused,
  kMigrating,
  kShuttingDown,
  kShutOff,
  kCrashed, // CRASHED/PANICKED
  kPmSuspended,
};

enum class AgentStatus {
  kUnknown,      // not probed for this sample
  kNotInstalled, // no agent channel in the domain
  kNotConnected, // channel present, guest side closed (booting, agent stopped)
  kAnswered,     // guest-ping answered
  kFailed,       // connected but guest-ping timed out or failed
};

struct HangSample {
  MonoTime at{};
  Lifecycle lifecycle = Lifecycle::kRunning;
  bool job_active = false; // a libvirt dump, save, snapshot or migration job holds the guest
  AgentStatus agent = AgentStatus::kUnknown;
  std::optional<std::uint64_t> vcpu_time_ns; // summed over vCPUs (libvirt vcpu.N.time)
  std::uint32_t vcpus = 1;
};

enum class GuestEvent {
  kWatchdog,    // VIR_DOMAIN_EVENT_ID_WATCHDOG
  kPanicked,    // CRASHED/PANICKED
  kCrashLoaded, // CRASHED/CRASHLOADED: the guest's kdump kernel runs
  kReboot,      // VIR_DOMAIN_EVENT_ID_REBOOT: the guest reset itself
  kNmiFailed,   // the host could not inject the NMI the detector asked for
};

enum class HangState {
  kOff,      // hang-timeout = 0 (watchdog events are still acted on)
  kInactive, // not running, or held by a job
  kGrace,    // recently (re)started: no evidence counted yet
  kHealthy,
  kSuspect,         // failing, not yet long enough
  kWaitingForPanic, // NMI injected
  kHung,            // acted on; latched until the guest answers again or restarts
  kCrashKernel,     // the guest's own kdump runs
};

/// none / suspect / hung, for logs and status.
enum class HangVerdict { kNone, kSuspect, kHung };

/// What the host must do now.
enum class HangStep {
  kNone,
  kInjectNmi, // virDomainInjectNMI, then report kNmiFailed if it fails
  kDump,      // capture with trigger "hang"
  kReport,    // log the hang (no further action by policy)
};

struct HangDecision {
  HangState state = HangState::kInactive;
  HangStep step = HangStep::kNone;
  std::string reason;
};

/// Collapses a state to none / suspect / hung.
HangVerdict verdict(HangState state);
/// "grace", "waiting-for-panic", ... for logs.
std::string_view to_string(HangState state);

class HangDetector {
public:
  HangDetector(HangPolicy policy, HangAction action) : policy_(policy), action_(action) {}

  /// Feeds one periodic sample; samples should come every hang-interval.
  HangDecision on_sample(const HangSample& sample);
  /// Feeds a guest event as it arrives.
  HangDecision on_event(GuestEvent event);

  HangState state() const { return state_; }
  /// The guest agent answered since the guest last (re)started and has not disconnected since:
  /// only then is its silence hang evidence.
  bool agent_proven() const { return agent_proven_; }
  /// Configuration reload: keeps the current state and evidence.
  void set_policy(HangPolicy policy, HangAction action) {
    policy_ = policy;
    action_ = action;
  }

private:
  HangDecision declare_hung(std::string why);
  HangDecision nmi_gave_nothing(std::string why);
  void restart();
  void clear_evidence();

  HangPolicy policy_;
  HangAction action_;
  HangState state_ = HangState::kInactive;
  bool need_grace_ = true; // the next running sample starts a grace period
  bool latched_ = false;
  bool agent_proven_ = false;
  std::optional<Lifecycle> lifecycle_;
  std::optional<MonoTime> last_at_;
  std::optional<std::uint64_t> last_vcpu_;
  Duration grace_left_{0};
  Duration bad_time_{0};
  std::uint32_t bad_samples_ = 0;
  Duration nmi_elapsed_{0};
};

} // namespace guestdump::policies
