#include <guestdump/policies/after_dump.h>

namespace guestdump::policies {
namespace {

using enum GuestStep;

AfterDumpPlan restart(const AfterDumpInput& in) {
  if (in.state == GuestRunState::kShutOff) {
    if (!in.persistent) return {{}, "restart: the transient guest is gone and cannot be started"};
    return {{kStart}, "restart: start the shut-off guest again"};
  }
  if (!in.persistent) {
    return {{kReset, kResume}, "restart: transient guest has no definition to start from, reset"};
  }
  return {{kDestroy, kStart}, "restart: destroy and start the guest again"};
}

} // namespace

std::string_view to_string(Trigger trigger) {
  switch (trigger) {
  case Trigger::kPanic:
    return "panic";
  case Trigger::kCrashLoaded:
    return "crashloaded";
  case Trigger::kWatchdog:
    return "watchdog";
  case Trigger::kHang:
    return "hang";
  case Trigger::kManual:
    return "manual";
  }
  return "?";
}

std::string_view to_string(GuestStep step) {
  switch (step) {
  case kResume:
    return "resume";
  case kReset:
    return "reset";
  case kDestroy:
    return "destroy";
  case kStart:
    return "start";
  }
  return "?";
}

AfterDumpPlan plan_after_dump(const AfterDumpInput& in) {
  const bool paused = in.state == GuestRunState::kPaused;
  const bool we_paused = paused && in.paused_by_us;

  if (in.trigger == Trigger::kCrashLoaded) {
    if (we_paused) return {{kResume}, "the guest's own kdump is running: resume it"};
    return {{}, "the guest's own kdump is running: leave it alone"};
  }
  if (in.trigger == Trigger::kManual) {
    if (we_paused) return {{kResume}, "manual dump: resume the guest we paused"};
    return {{}, "manual dump: leave the guest as it was"};
  }

  switch (in.policy) {
  case AfterDump::kPreserve:
    if (in.state == GuestRunState::kCrashed) return {{}, "preserve: leave the crashed guest"};
    if (paused) return {{}, "preserve: leave the guest paused"};
    return {{}, "preserve: leave the guest as it is"};
  case AfterDump::kResume:
    if (in.state == GuestRunState::kCrashed) {
      return {{}, "resume: a panicked guest cannot continue, left crashed"};
    }
    if (paused && in.trigger == Trigger::kHang && !in.paused_by_us) {
      // Hang detection never fires on a paused guest, so someone paused it during the dump.
      return {{}, "resume: the guest was paused by someone else, left paused"};
    }
    if (paused) return {{kResume}, "resume: resume the paused guest"};
    return {{},
            "resume: the guest is already " +
                std::string(in.state == GuestRunState::kRunning ? "running" : "shut off")};
  case AfterDump::kReset:
    if (in.state == GuestRunState::kShutOff) return {{}, "reset: the guest is shut off"};
    if (in.state == GuestRunState::kRunning) return {{kReset}, "reset: reset the guest"};
    // libvirt leaves a reset crashed guest in PAUSED/CRASHED, and a reset keeps a paused guest
    // paused, so the reset guest needs a resume to boot.
    return {{kReset, kResume}, "reset: reset the guest and let it boot"};
  case AfterDump::kDestroy:
    if (in.state == GuestRunState::kShutOff) return {{}, "destroy: the guest is already shut off"};
    return {{kDestroy}, "destroy: power the guest off"};
  case AfterDump::kRestart:
    return restart(in);
  }
  return {{}, "unknown policy"};
}

} // namespace guestdump::policies
