#include "guestdump/formats/vmcoreinfo.h"

#include <charconv>

#include "guestdump/common/checked.h"

namespace guestdump::formats {

std::optional<std::uint64_t> parse_unsigned(std::string_view s, int base) {
  if (base == 0) {
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      s.remove_prefix(2);
      base = 16;
    } else {
      base = 10;
    }
  }
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::int64_t> parse_signed(std::string_view s, int base) {
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  auto u = parse_unsigned(s, base);
  if (!u) return std::nullopt;
  if (neg) {
    if (*u > static_cast<std::uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return static_cast<std::int64_t>(0 - *u);
  }
  if (*u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<std::int64_t>(*u);
}

VmcoreInfo VmcoreInfo::parse(std::string_view text) {
  VmcoreInfo info;
  while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
  info.text_ = std::string(text);
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      ++info.bad_lines_;
      continue;
    }
    // The first occurrence wins, as in makedumpfile's linear search.
    info.values_.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return info;
}

std::optional<std::string_view> VmcoreInfo::get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return std::string_view(it->second);
}

namespace {
std::string wrap(std::string_view kind, std::string_view name) {
  std::string k(kind);
  k += '(';
  k += name;
  k += ')';
  return k;
}
} // namespace

std::optional<std::uint64_t> VmcoreInfo::symbol(std::string_view name) const {
  auto v = get(wrap("SYMBOL", name));
  return v ? parse_unsigned(*v, 16) : std::nullopt;
}

std::optional<std::int64_t> VmcoreInfo::number(std::string_view name) const {
  auto v = get(wrap("NUMBER", name));
  if (!v) return std::nullopt;
  // Most NUMBERs are "%ld"; a few are "0x%lx" (VMALLOC_START) and may exceed INT64_MAX.
  if (v->starts_with("0x") || v->starts_with("0X")) {
    auto u = parse_unsigned(*v, 0);
    return u ? std::optional<std::int64_t>(static_cast<std::int64_t>(*u)) : std::nullopt;
  }
  return parse_signed(*v, 10);
}

std::optional<std::uint64_t> VmcoreInfo::offset(std::string_view member) const {
  auto v = get(wrap("OFFSET", member));
  return v ? parse_unsigned(*v, 0) : std::nullopt;
}

std::optional<std::uint64_t> VmcoreInfo::size(std::string_view type) const {
  auto v = get(wrap("SIZE", type));
  return v ? parse_unsigned(*v, 0) : std::nullopt;
}

std::optional<std::uint64_t> VmcoreInfo::length(std::string_view name) const {
  auto v = get(wrap("LENGTH", name));
  return v ? parse_unsigned(*v, 0) : std::nullopt;
}

namespace {
std::optional<std::uint64_t> within(std::optional<std::uint64_t> v, std::string_view kind,
                                    std::string_view name, std::uint64_t min, std::uint64_t max,
                                    std::vector<std::string>& rejected) {
  if (!v || (*v >= min && *v <= max)) return v;
  rejected.push_back(wrap(kind, name) + "=" + std::to_string(*v) + ": outside " +
                     std::to_string(min) + "-" + std::to_string(max));
  return std::nullopt;
}
} // namespace

std::optional<std::uint64_t> VmcoreInfo::size_in(std::string_view type, std::uint64_t min,
                                                 std::uint64_t max,
                                                 std::vector<std::string>& rejected) const {
  return within(size(type), "SIZE", type, min, max, rejected);
}

std::optional<std::uint64_t> VmcoreInfo::length_in(std::string_view name, std::uint64_t min,
                                                   std::uint64_t max,
                                                   std::vector<std::string>& rejected) const {
  return within(length(name), "LENGTH", name, min, max, rejected);
}

std::optional<std::uint64_t> VmcoreInfo::offset_in(std::string_view member, std::uint64_t width,
                                                   std::uint64_t limit, std::string_view limit_name,
                                                   std::vector<std::string>& rejected) const {
  auto v = offset(member);
  if (!v || fits(*v, width, limit)) return v;
  rejected.push_back(wrap("OFFSET", member) + "=" + std::to_string(*v) + ": a " +
                     std::to_string(width) + "-byte field there does not fit in " +
                     std::string(limit_name) + "=" + std::to_string(limit));
  return std::nullopt;
}

std::optional<std::uint64_t> VmcoreInfo::page_size() const {
  auto v = get("PAGESIZE");
  return v ? parse_unsigned(*v, 10) : std::nullopt;
}

std::optional<std::int64_t> VmcoreInfo::crash_time() const {
  auto v = get("CRASHTIME");
  return v ? parse_signed(*v, 10) : std::nullopt;
}

std::optional<std::uint64_t> VmcoreInfo::kernel_offset() const {
  auto v = get("KERNELOFFSET");
  return v ? parse_unsigned(*v, 16) : std::nullopt;
}

} // namespace guestdump::formats
