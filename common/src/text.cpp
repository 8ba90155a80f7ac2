#include "guestdump/common/text.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>

namespace guestdump {
namespace {

/// Length of the well-formed UTF-8 sequence at the start of `s` (1-4), or 0 if ill-formed.
/// The ranges are Unicode's Table 3-7 (well-formed byte sequences).
std::size_t utf8_sequence(std::string_view s, char32_t* cp) {
  const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  const std::uint8_t b0 = b(0);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  std::size_t n = 0;
  std::uint8_t lo = 0x80;
  std::uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0; // no overlong forms
    if (b0 == 0xED) hi = 0x9F; // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F; // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  }
  char32_t v = b0 & (0x7F >> n);
  for (std::size_t i = 1; i < n; ++i) v = (v << 6) | (b(i) & 0x3F);
  *cp = v;
  return n;
}

void append_hex_byte(std::string& out, std::uint8_t byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xF];
}

void append_hex_bytes(std::string& out, std::string_view bytes) {
  for (char c : bytes) append_hex_byte(out, static_cast<std::uint8_t>(c));
}

bool unsafe_code_point(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

/// Calls `on_sequence(code point, bytes)` for each well-formed sequence of `s`, and writes each
/// byte of an ill-formed one to `out` as `\xNN`.
template <typename F> void escape_walk(std::string_view s, std::string& out, F on_sequence) {
  char32_t cp = 0;
  while (!s.empty()) {
    const std::size_t n = utf8_sequence(s, &cp);
    if (n == 0) {
      append_hex_byte(out, static_cast<std::uint8_t>(s[0]));
      s.remove_prefix(1);
      continue;
    }
    on_sequence(cp, s.substr(0, n));
    s.remove_prefix(n);
  }
}

} // namespace

bool is_valid_utf8(std::string_view s) {
  char32_t cp = 0;
  while (!s.empty()) {
    const std::size_t n = utf8_sequence(s, &cp);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string escape_invalid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  escape_walk(s, out, [&](char32_t, std::string_view seq) { out.append(seq); });
  return out;
}

std::string escape_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  escape_walk(s, out, [&](char32_t cp, std::string_view seq) {
    switch (cp) {
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
    }
    if (unsafe_code_point(cp)) {
      append_hex_bytes(out, seq);
    } else {
      out.append(seq);
    }
  });
  return out;
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

Result<std::uint64_t> parse_byte_size(std::string_view text) {
  static constexpr std::string_view kExpected = "expected bytes, optionally with K, M, G or T";
  const std::string_view s = trim(text);
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(s[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
      return make_error(ErrorCode::kInvalidArgument, "too large");
    value = value * 10 + digit;
  }
  if (i == 0) return make_error(ErrorCode::kInvalidArgument, std::string(kExpected));
  std::string_view suffix = s.substr(i);
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (ascii_lower(suffix.front())) {
    case 'k':
      shift = 10;
      break;
    case 'm':
      shift = 20;
      break;
    case 'g':
      shift = 30;
      break;
    case 't':
      shift = 40;
      break;
    case 'b':
      break;
    default:
      return make_error(ErrorCode::kInvalidArgument, std::string(kExpected));
    }
    if (shift != 0) suffix.remove_prefix(1);
    if (!suffix.empty() && !iequals(suffix, "B") && !iequals(suffix, "iB"))
      return make_error(ErrorCode::kInvalidArgument, std::string(kExpected));
  }
  if (shift != 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift))
    return make_error(ErrorCode::kInvalidArgument, "too large");
  return value << shift;
}

std::string format_bytes(double bytes) {
  static constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  while (bytes >= 1024.0 && unit + 1 < kUnits.size()) {
    bytes /= 1024.0;
    ++unit;
  }
  std::array<char, 48> buf{};
  std::snprintf(buf.data(), buf.size(), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buf.data();
}

} // namespace guestdump
