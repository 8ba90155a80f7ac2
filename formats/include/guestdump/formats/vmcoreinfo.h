#pragma once
// VMCOREINFO: the guest kernel's "KEY=VALUE\n" description of itself, parsed into typed keys
// with the encodings the kernel uses (SYMBOL hex without 0x, NUMBER signed decimal or 0x hex,
// OFFSET/SIZE/LENGTH decimal). Guest data: malformed lines are skipped and counted, never fatal.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

  // Bounded lookups: the one way a consumer takes a size or an offset it will compute with. A
  // value that is present but outside its bound is treated as absent and described in
  // `rejected` with the key, the value and the bound ("OFFSET(page.flags)=18446744073709551612:
  // an 8-byte field there does not fit in SIZE(page)=64"), for the caller's warning channel.

  /// SIZE(type) if it lies in [min, max].
  std::optional<std::uint64_t> size_in(std::string_view type, std::uint64_t min, std::uint64_t max,
                                       std::vector<std::string>& rejected) const;
  /// OFFSET(member) if a `width`-byte field there lies inside a `limit`-byte structure, which
  /// `limit_name` names in the message ("SIZE(page)").
  std::optional<std::uint64_t> offset_in(std::string_view member, std::uint64_t width,
                                         std::uint64_t limit, std::string_view limit_name,
                                         std::vector<std::string>& rejected) const;
  /// LENGTH(name) if it lies in [min, max].
  std::optional<std::uint64_t> length_in(std::string_view name, std::uint64_t min,
                                         std::uint64_t max,
                                         std::vector<std::string>& rejected) const;

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
