#pragma once
// QMP wire framing without I/O: splitting the peer's byte stream into lines and parsing one line
// into a greeting, an event or a reply. The client's reader thread and the fuzz target
// (fuzz/fuzz_qmp.cpp) call the same functions, so what the fuzzer reaches is what QEMU's bytes
// reach. Every byte here comes from the peer and is untrusted.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <guestdump/common/result.h>
#include <guestdump/qmp/client.h>

namespace guestdump::qmp::detail {

/// Deepest JSON nesting accepted from the peer. QEMU's replies nest a handful of levels; a
/// deeper message is a protocol error, so that copying or printing it cannot exhaust the stack.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// Splits a byte stream into lines ending in "\n" (a "\r" before it is dropped), across partial
/// and coalesced reads. A partial line longer than `max_line` bytes is an overflow.
class LineSplitter {
public:
  explicit LineSplitter(std::size_t max_line = kMaxLineBytes) : max_line_(max_line) {}
  void append(std::string_view bytes) { buffer_.append(bytes); }
  /// The next complete line, or nullopt when none is buffered.
  std::optional<std::string> next_line();
  /// The buffered bytes after the last complete line exceed the limit: the peer must be dropped.
  bool overflow() const { return buffer_.size() > max_line_; }
  std::size_t buffered() const { return buffer_.size(); }

private:
  std::size_t max_line_;
  std::string buffer_;
  std::size_t scanned_ = 0; // bytes of buffer_ known to hold no newline
};

/// A reply line: the "id" it carries and the parsed reply (an error when the error object is
/// malformed: the waiting command gets that error).
struct ReplyMessage {
  bool has_id = false; // an "id" member was present (a non-string id matches no command)
  std::string id;      // the id when it is a string
  Result<Reply> reply;
};
/// A message that is neither an event nor a reply (QEMU sends none; ignored).
struct OtherMessage {};
using Message = std::variant<Event, ReplyMessage, OtherMessage>;

/// Parses one line from `peer` (named in errors). An empty line is OtherMessage. Malformed JSON,
/// a non-object, nesting deeper than kMaxJsonDepth or a malformed event is a kProtocol error:
/// after that the stream cannot be trusted to stay in step.
Result<Message> parse_message(std::string_view line, const std::string& peer);

/// Parses the greeting line {"QMP": {"version": ..., "capabilities": [...]}}.
Result<Greeting> parse_greeting(std::string_view line, const std::string& peer);

/// Up to 200 bytes of a peer line for an error message.
std::string clip(std::string_view line);

} // namespace guestdump::qmp::detail
