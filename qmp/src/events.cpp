#include "guestdump/qmp/events.h"

#include <guestdump/common/log.h>

namespace guestdump::qmp {
namespace {

Error data_error(const Event& event, std::string_view what) {
  return make_error(ErrorCode::kProtocol,
                    "qmp event " + event.name + ": data " + std::string(what));
}

Result<std::string> action_of(const Event& event) {
  auto it = event.data.find("action");
  if (it == event.data.end() || !it->is_string()) {
    return data_error(event, "lacks string 'action'");
  }
  return it->get<std::string>();
}

Json info_of(const Event& event) {
  auto it = event.data.find("info");
  return it == event.data.end() ? Json() : *it;
}

} // namespace

Result<TypedEvent> decode_event(const Event& event) {
  if (!event.data.is_object()) return data_error(event, "is not an object");
  if (event.name == kGuestPanickedEvent) {
    GUESTDUMP_TRY(std::string action, action_of(event));
    return TypedEvent(GuestPanicked{std::move(action), info_of(event)});
  }
  if (event.name == kGuestCrashloadedEvent) {
    GUESTDUMP_TRY(std::string action, action_of(event));
    return TypedEvent(GuestCrashloaded{std::move(action), info_of(event)});
  }
  if (event.name == kDumpCompletedEvent) {
    auto r = event.data.find("result");
    if (r == event.data.end()) return data_error(event, "lacks 'result'");
    auto progress = parse_dump_progress(*r);
    if (!progress) return std::move(progress).error().context("qmp event " + event.name);
    DumpCompleted done{*progress, {}};
    if (auto e = event.data.find("error"); e != event.data.end()) {
      if (!e->is_string()) return data_error(event, "'error' is not a string");
      done.error = e->get<std::string>();
    }
    return TypedEvent(std::move(done));
  }
  if (event.name == kStopEvent) return TypedEvent(Stop{});
  if (event.name == kResumeEvent) return TypedEvent(Resume{});
  if (event.name == kWatchdogEvent) {
    GUESTDUMP_TRY(std::string action, action_of(event));
    return TypedEvent(Watchdog{std::move(action)});
  }
  return TypedEvent(event);
}

Subscription subscribe_typed(Client& client, std::function<void(const TypedEvent&)> handler,
                             std::vector<std::string> names) {
  return client.subscribe(
      [h = std::move(handler)](const Event& event) {
        auto typed = decode_event(event);
        if (!typed) {
          GUESTDUMP_LOG(kWarn, "qmp") << typed.error().what() << "; delivering it raw";
          h(TypedEvent(event));
          return;
        }
        h(*typed);
      },
      std::move(names));
}

} // namespace guestdump::qmp
