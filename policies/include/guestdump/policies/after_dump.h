#pragma once
// What happens to the guest once its dump is written (`after-dump`, per-guest overrides).
//
// The policy values are libvirt's on_crash names and mean the same for a crashed guest:
//   preserve  leave the guest as the dump found it (a panicked guest stays crashed and paused;
//             a hung guest we paused stays paused for inspection)
//   resume    let it run again (a panicked guest cannot continue: left as it is)
//   reset     hardware reset; libvirt leaves a reset crashed or paused guest paused, so a
//             resume follows
//   destroy   power off
//   restart   power off and start again from its definition; a transient guest has no
//             definition to start from, so it is reset instead
// Whatever the policy, a guest whose own kdump runs (crash-loaded) is never reset, destroyed or
// restarted: that would kill its capture; if we paused it, it is resumed. A manual dump leaves
// the guest as it was found (resumed if we paused it).

#include <string>
#include <vector>

#include <guestdump/policies/config.h>

namespace guestdump::policies {

/// What started the dump.
enum class Trigger {
  kPanic,       // CRASHED/PANICKED (pvpanic, on_crash=preserve), also found when reconciling
  kCrashLoaded, // CRASHED/CRASHLOADED: the guest's own kdump kernel is running
  kWatchdog,    // the guest's watchdog fired
  kHang,        // the hang detector
  kManual,      // an operator asked (guestdump dump)
};

/// The guest's state when the dump finished.
enum class GuestRunState {
  kRunning,
  kPaused,  // paused: by us before the dump, by a watchdog or I/O error, or by the operator
  kCrashed, // CRASHED/PANICKED: vCPUs stopped by the panic
  kShutOff, // nothing left to act on except a restart
};

struct AfterDumpInput {
  Trigger trigger = Trigger::kPanic;
  AfterDump policy = AfterDump::kPreserve;
  GuestRunState state = GuestRunState::kCrashed;
  bool paused_by_us = false; // the daemon paused the guest for this dump
  bool persistent = true;    // the guest has a definition (virDomainIsPersistent)
};

/// One libvirt operation for the host to carry out, in order.
enum class GuestStep {
  kResume,  // virDomainResume
  kReset,   // virDomainReset
  kDestroy, // virDomainDestroy
  kStart,   // virDomainCreate
};

struct AfterDumpPlan {
  std::vector<GuestStep> steps; // empty: leave the guest alone
  std::string reason;
};

/// The steps for the host to run after a dump, with the reason to log.
AfterDumpPlan plan_after_dump(const AfterDumpInput& input);

/// The names used in meta.json and logs ("panic", "crashloaded", "watchdog", "hang", "manual";
/// "resume", ...).
std::string_view to_string(Trigger trigger);
std::string_view to_string(GuestStep step);

} // namespace guestdump::policies
