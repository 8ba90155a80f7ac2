// Fuzz target: QMP framing and messages exactly as the client's reader thread handles them. The
// input is QEMU's byte stream, fed to the line splitter in chunks whose sizes come from the first
// input byte (split and coalesced reads); the first line is the greeting, every later line is an
// event or a reply. Events go through decode_event, reply values through parse_dump_progress.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "framing.h"
#include "fuzz_support.h"
#include "guestdump/qmp/commands.h"
#include "guestdump/qmp/events.h"

using namespace guestdump;
using namespace guestdump::qmp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = data[0] % 64 + 1;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string peer = "fuzz";
  detail::LineSplitter lines(4096);
  bool greeted = false;
  for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
    lines.append(stream.substr(pos, chunk));
    while (auto line = lines.next_line()) {
      if (!greeted) {
        greeted = true;
        auto g = detail::parse_greeting(*line, peer);
        if (g) (void)g->capabilities.size();
        continue;
      }
      auto msg = detail::parse_message(*line, peer);
      if (!msg) return 0; // the client drops the connection here
      if (auto* ev = std::get_if<Event>(&*msg)) {
        auto typed = decode_event(*ev);
        if (typed) (void)typed->index();
      } else if (auto* r = std::get_if<detail::ReplyMessage>(&*msg)) {
        if (r->reply && !r->reply->failed) {
          (void)parse_dump_progress(r->reply->value);
        } else if (r->reply) {
          (void)command_error("fuzz", r->reply->error);
        }
      }
    }
    if (lines.overflow()) return 0;
  }
  return 0;
}
