#pragma once
// Typed QMP events (QEMU qapi/run-state.json, qapi/dump.json). Events guestdump acts on get a
// struct; every other event stays a raw Event.

#include <string>
#include <string_view>
#include <variant>

#include <guestdump/common/result.h>
#include <guestdump/qmp/client.h>
#include <guestdump/qmp/commands.h>

namespace guestdump::qmp {

inline constexpr std::string_view kGuestPanickedEvent = "GUEST_PANICKED";
inline constexpr std::string_view kGuestCrashloadedEvent = "GUEST_CRASHLOADED";
inline constexpr std::string_view kDumpCompletedEvent = "DUMP_COMPLETED";
inline constexpr std::string_view kStopEvent = "STOP";
inline constexpr std::string_view kResumeEvent = "RESUME";
inline constexpr std::string_view kWatchdogEvent = "WATCHDOG";

/// GUEST_PANICKED: action "pause" (memory kept), "poweroff" (QEMU will exit) or "run".
struct GuestPanicked {
  std::string action;
  Json info; // GuestPanicInformation (hyper-v / s390), null when absent
};
/// GUEST_CRASHLOADED: the guest's own crash kernel handles the crash; action is "run".
struct GuestCrashloaded {
  std::string action;
  Json info;
};
/// DUMP_COMPLETED: result of a dump; `error` is set only when it failed.
struct DumpCompleted {
  DumpProgress result;
  std::string error;
};
struct Stop {};
struct Resume {};
/// WATCHDOG: the action QEMU takes ("reset", "pause", "inject-nmi", ...).
struct Watchdog {
  std::string action;
};

/// A decoded event; events without a struct stay raw (the last alternative).
using TypedEvent =
    std::variant<GuestPanicked, GuestCrashloaded, DumpCompleted, Stop, Resume, Watchdog, Event>;

/// Decodes `event`; a known event with a malformed "data" member is a kProtocol error naming
/// the event and the member.
Result<TypedEvent> decode_event(const Event& event);

/// Subscribes `handler` to decoded events (see Client::subscribe). A known event that does not
/// decode is logged as a warning and delivered raw.
[[nodiscard]] Subscription subscribe_typed(Client& client,
                                           std::function<void(const TypedEvent&)> handler,
                                           std::vector<std::string> names = {});

} // namespace guestdump::qmp
