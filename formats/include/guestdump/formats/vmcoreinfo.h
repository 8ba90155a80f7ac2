#pragma once
// VMCOREINFO: the guest kernel's "KEY=VALUE\n" description of itself, parsed into typed keys
// with the encodings the kernel uses (SYMBOL hex without 0x, NUMBER signed decimal or 0x hex,
// OFFSET/SIZE/LENGTH decimal). Guest data: malformed lines are skipped and counted, never fatal.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace guestdump::formats {

class VmcoreInfo {
public:
  /// Parses the text (trailing NULs and a missing final newline are fine).
  static VmcoreInfo parse(std::string_view text);

  const std::string& text() const { return text_; }
  std::size_t bad_lines() const { return bad_lines_; }
  bool empty() const { return values_.empty(); }

  /// Raw value of KEY (e.g. "OSRELEASE", "SYMBOL(prb)").
  std::optional<std::string_view> get(std::string_view key) const;
  std::optional<std::uint64_t> symbol(std::string_view name) const;
  std::optional<std::int64_t> number(std::string_view name) const;
  std::optional<std::uint64_t> offset(std::string_view member) const;
  std::optional<std::uint64_t> size(std::string_view type) const;
  std::optional<std::uint64_t> length(std::string_view name) const;

  std::optional<std::string_view> osrelease() const { return get("OSRELEASE"); }
  std::optional<std::uint64_t> page_size() const;
  std::optional<std::int64_t> crash_time() const;
  std::optional<std::uint64_t> kernel_offset() const;

private:
  std::string text_;
  std::map<std::string, std::string, std::less<>> values_;
  std::size_t bad_lines_ = 0;
};

/// Parses an unsigned integer in `base` (0 = auto: 0x prefix means hex). Whole string or nothing.
std::optional<std::uint64_t> parse_unsigned(std::string_view s, int base);
std::optional<std::int64_t> parse_signed(std::string_view s, int base);

} // namespace guestdump::formats
