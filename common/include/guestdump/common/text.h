#pragma once
// Text that came from a guest or a dump file, made safe for the way out. Guest bytes are data,
// never markup: they may be invalid UTF-8, carry terminal escape sequences, or hold a newline
// that would forge a log line. Every way out picks one of these:
//   meta.json, --json        escape_invalid_utf8() (JSON itself escapes control characters)
//   logs, journal, terminal  escape_text()          (one line, nothing raw but printable text)

#include <cstdint>
#include <string>
#include <string_view>

#include "guestdump/common/result.h"

namespace guestdump {

/// True when `s` is well-formed UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// Well-formed UTF-8 unchanged; every byte of an ill-formed sequence becomes the four
/// characters `\xNN`. The result is always valid UTF-8, so JSON serialisation cannot fail.
std::string escape_invalid_utf8(std::string_view s);

/// One printable line: printable ASCII and printable UTF-8 unchanged; `\` becomes `\\`, newline,
/// carriage return and tab become `\n`, `\r`, `\t`; every other C0 or C1 control, DEL, the
/// bidirectional overrides (U+202A-U+202E, U+2066-U+2069) and every ill-formed byte become
/// `\xNN` per byte. Nothing in the result can move a terminal's cursor or start a new line.
std::string escape_text(std::string_view s);

// Plain text helpers for configuration files, command lines and /proc or /sys reads.

/// `s` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view trim(std::string_view s);

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

/// A byte count: decimal digits, optionally followed by K, M, G or T (binary multiples), each
/// optionally followed by "B" or "iB", or by a bare "B"; case-insensitive, surrounding whitespace
/// ignored. The error's message says what is wrong ("expected bytes, optionally with K, M, G or
/// T", "too large") without naming the object: the caller adds that.
Result<std::uint64_t> parse_byte_size(std::string_view text);

/// "512 B", "4.0 KiB", "1.5 GiB": binary units, one decimal above bytes.
std::string format_bytes(double bytes);
inline std::string format_bytes(std::uint64_t bytes) {
  return format_bytes(static_cast<double>(bytes));
}

} // namespace guestdump
