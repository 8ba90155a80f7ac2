#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <utility>

#include <guestdump/common/text.h>
#include <guestdump/policies/config.h>

namespace guestdump::policies {
namespace {

Error invalid(std::string_view key, std::string_view value, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument, "invalid value '" + std::string(value) +
                                                     "' for '" + std::string(key) +
                                                     "': " + std::string(why));
}

// Parses leading decimal digits; returns the value and the rest. No sign, no overflow.
std::optional<std::pair<std::uint64_t, std::string_view>> leading_number(std::string_view s) {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
    const auto digit = static_cast<std::uint64_t>(s[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  return std::pair{value, s.substr(i)};
}

template <typename Enum, std::size_t N>
Result<Enum> parse_enum(std::string_view text, std::string_view key,
                        const std::array<std::pair<std::string_view, Enum>, N>& names,
                        std::string_view expected) {
  const std::string_view t = trim(text);
  for (const auto& [name, value] : names) {
    if (iequals(t, name)) return value;
  }
  return invalid(key, text, expected);
}

constexpr std::array<std::pair<std::string_view, Codec>, 5> kCodecs = {{{"zstd", Codec::kZstd},
                                                                        {"zlib", Codec::kZlib},
                                                                        {"lzo", Codec::kLzo},
                                                                        {"snappy", Codec::kSnappy},
                                                                        {"none", Codec::kNone}}};
constexpr std::array<std::pair<std::string_view, AfterDump>, 5> kAfterDump = {
    {{"preserve", AfterDump::kPreserve},
     {"resume", AfterDump::kResume},
     {"reset", AfterDump::kReset},
     {"destroy", AfterDump::kDestroy},
     {"restart", AfterDump::kRestart}}};
constexpr std::array<std::pair<std::string_view, HangAction>, 4> kHangActions = {
    {{"log", HangAction::kLog},
     {"nmi", HangAction::kNmi},
     {"dump", HangAction::kDump},
     {"nmi-then-dump", HangAction::kNmiThenDump}}};

template <typename Enum, std::size_t N>
std::string_view enum_name(Enum value, const std::array<std::pair<std::string_view, Enum>, N>& t) {
  for (const auto& [name, v] : t) {
    if (v == value) return name;
  }
  return "?";
}

// A selection or override pattern: "name:GLOB", "uuid:GLOB" or "GLOB", never empty.
Result<> check_pattern(std::string_view key, const std::string& pattern) {
  std::string_view glob = pattern;
  if (glob.starts_with("name:"))
    glob.remove_prefix(5);
  else if (glob.starts_with("uuid:"))
    glob.remove_prefix(5);
  if (glob.empty()) return invalid(key, pattern, "empty pattern");
  return {};
}

Result<> check_level(std::string_view key, int level) {
  if (level < 0 || level > 31) return invalid(key, std::to_string(level), "expected 0 to 31");
  return {};
}

std::string seconds_text(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

} // namespace

std::string_view to_string(Codec codec) {
  return enum_name(codec, kCodecs);
}
std::string_view to_string(AfterDump action) {
  return enum_name(action, kAfterDump);
}
std::string_view to_string(HangAction action) {
  return enum_name(action, kHangActions);
}

Result<Codec> parse_codec(std::string_view text, std::string_view key) {
  return parse_enum(text, key, kCodecs, "expected zstd, zlib, lzo, snappy or none");
}

Result<AfterDump> parse_after_dump(std::string_view text, std::string_view key) {
  return parse_enum(text, key, kAfterDump, "expected preserve, resume, reset, destroy or restart");
}

Result<HangAction> parse_hang_action(std::string_view text, std::string_view key) {
  return parse_enum(text, key, kHangActions, "expected log, nmi, dump or nmi-then-dump");
}

Result<int> parse_dump_level(std::string_view text, std::string_view key) {
  const auto number = leading_number(trim(text));
  if (!number || !number->second.empty() || number->first > 31) {
    return invalid(key, text, "expected 0 to 31");
  }
  return static_cast<int>(number->first);
}

Result<std::uint64_t> parse_bytes(std::string_view text, std::string_view key) {
  auto bytes = parse_byte_size(text);
  if (!bytes) return invalid(key, text, bytes.error().message);
  return *bytes;
}

Result<Duration> parse_duration(std::string_view text, std::string_view key) {
  static constexpr std::string_view kExpected = "expected seconds, optionally with s, m, h or d";
  const auto number = leading_number(trim(text));
  if (!number) return invalid(key, text, kExpected);
  std::uint64_t unit = 1;
  const std::string_view suffix = number->second;
  if (suffix.size() > 1) return invalid(key, text, kExpected);
  if (suffix.size() == 1) {
    switch (suffix.front()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return invalid(key, text, kExpected);
    }
  }
  // Capped far below the int64 millisecond range: 100 years.
  constexpr std::uint64_t kMaxSeconds = 100ULL * 365 * 86400;
  if (number->first > kMaxSeconds / unit) return invalid(key, text, "too large");
  return std::chrono::duration_cast<Duration>(
      std::chrono::seconds(static_cast<std::int64_t>(number->first * unit)));
}

Result<MinFree> parse_min_free(std::string_view text, std::string_view key) {
  MinFree out{.bytes = 0, .percent = 0};
  bool have_bytes = false;
  bool have_percent = false;
  std::string_view rest = text;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view part = trim(rest.substr(0, comma));
    if (part.empty()) return invalid(key, text, "expected bytes, a percentage, or both");
    if (part.back() == '%') {
      const auto number = leading_number(part.substr(0, part.size() - 1));
      if (have_percent || !number || !number->second.empty() || number->first > 99) {
        return invalid(key, text, "expected one percentage from 0% to 99%");
      }
      out.percent = static_cast<std::uint32_t>(number->first);
      have_percent = true;
    } else {
      if (have_bytes) return invalid(key, text, "expected bytes, a percentage, or both");
      GUESTDUMP_TRY(out.bytes, parse_bytes(part, key));
      have_bytes = true;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

Result<GuestOverride> parse_override(std::string_view text, std::string_view key) {
  // Settings never contain ':', patterns may ("uuid:..."), so the last ':' separates them.
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return invalid(key, text, "expected 'PATTERN: setting=value, ...'");
  }
  GuestOverride out;
  out.pattern = std::string(trim(text.substr(0, colon)));
  GUESTDUMP_CHECK(check_pattern(key, out.pattern));
  std::string_view rest = text.substr(colon + 1);
  bool any = false;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return invalid(key, text, "expected 'PATTERN: setting=value, ...'");
    }
    const std::string_view name = trim(item.substr(0, eq));
    const std::string_view value = trim(item.substr(eq + 1));
    const std::string sub_key = std::string(key) + " " + std::string(name);
    if (name == "dump-level") {
      GUESTDUMP_TRY(out.dump_level, parse_dump_level(value, sub_key));
    } else if (name == "codec") {
      GUESTDUMP_TRY(out.codec, parse_codec(value, sub_key));
    } else if (name == "after-dump") {
      GUESTDUMP_TRY(out.after_dump, parse_after_dump(value, sub_key));
    } else if (name == "hang-action") {
      GUESTDUMP_TRY(out.hang_action, parse_hang_action(value, sub_key));
    } else {
      return invalid(key, text,
                     "unknown setting '" + std::string(name) +
                         "' (expected dump-level, codec, after-dump or hang-action)");
    }
    any = true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!any) return invalid(key, text, "no settings");
  return out;
}

Result<bool> parse_bool(std::string_view text, std::string_view key) {
  const std::string_view t = trim(text);
  for (std::string_view yes : {"true", "yes", "on", "1"}) {
    if (iequals(t, yes)) return true;
  }
  for (std::string_view no : {"false", "no", "off", "0"}) {
    if (iequals(t, no)) return false;
  }
  return invalid(key, text, "expected true or false");
}

Result<std::uint32_t> parse_count(std::string_view text, std::string_view key) {
  const auto number = leading_number(trim(text));
  if (!number || !number->second.empty()) return invalid(key, text, "expected a whole number");
  if (number->first > std::numeric_limits<std::uint32_t>::max()) {
    return invalid(key, text, "too large");
  }
  return static_cast<std::uint32_t>(number->first);
}

namespace {

constexpr std::array<PolicyKey, 21> kKeys = {{
    {"include", "", true, "watch only guests matching one of these globs (default: all)"},
    {"exclude", "", true, "never watch guests matching one of these globs"},
    {"require-opt-in", "false", false, "watch only guests whose libvirt metadata opts in"},
    {"dump-level", "31", false, "makedumpfile dump level 0-31 for the kdump file"},
    {"codec", "zstd", false, "page codec: zstd, zlib, lzo, snappy or none"},
    {"after-dump", "preserve", false, "then: preserve, resume, reset, destroy or restart"},
    {"hang-action", "nmi-then-dump", false, "on a hang: log, nmi, dump or nmi-then-dump"},
    {"override", "", true, "per-guest settings: 'PATTERN: key=value, ...'"},
    {"keep", "5", false, "dumps kept per guest (0: no limit)"},
    {"max-age", "0", false, "delete dumps older than this (0: no limit)"},
    {"max-total", "0", false, "bytes the whole store may use (0: no limit)"},
    {"min-free", "10%", false, "space that must stay free: bytes, percent, or both"},
    {"crash-loop-dumps", "3", false, "dumps per guest within crash-loop-window (0: no limit)"},
    {"crash-loop-window", "1h", false, "sliding window of the crash-loop limit"},
    {"hang-timeout", "120", false, "seconds of evidence before a guest is hung (0: off)"},
    {"hang-grace", "120", false, "no hang evidence this long after start, resume, reboot"},
    {"hang-interval", "10", false, "seconds between hang-detection samples"},
    {"hang-samples", "3", false, "consecutive failing samples needed as well"},
    {"nmi-timeout", "60", false, "wait this long for a panic after an NMI"},
    {"hang-busy-percent", "90", false, "vCPU time at or above this share of wall time: spin"},
    {"hang-idle-percent", "2", false, "vCPU time at or below this share of wall time: stall"},
}};

} // namespace

std::span<const PolicyKey> policy_keys() {
  return kKeys;
}

Result<> apply_option(PolicyConfig& c, std::string_view key, std::string_view value) {
  const std::string k(key);
  if (key == "include") {
    c.selection.include.emplace_back(trim(value));
  } else if (key == "exclude") {
    c.selection.exclude.emplace_back(trim(value));
  } else if (key == "require-opt-in") {
    GUESTDUMP_TRY(c.selection.require_opt_in, parse_bool(value, k));
  } else if (key == "dump-level") {
    GUESTDUMP_TRY(c.defaults.dump_level, parse_dump_level(value, k));
  } else if (key == "codec") {
    GUESTDUMP_TRY(c.defaults.codec, parse_codec(value, k));
  } else if (key == "after-dump") {
    GUESTDUMP_TRY(c.defaults.after_dump, parse_after_dump(value, k));
  } else if (key == "hang-action") {
    GUESTDUMP_TRY(c.defaults.hang_action, parse_hang_action(value, k));
  } else if (key == "override") {
    GUESTDUMP_TRY(GuestOverride o, parse_override(value, k));
    c.overrides.push_back(std::move(o));
  } else if (key == "keep") {
    GUESTDUMP_TRY(c.retention.keep, parse_count(value, k));
  } else if (key == "max-age") {
    GUESTDUMP_TRY(c.retention.max_age, parse_duration(value, k));
  } else if (key == "max-total") {
    GUESTDUMP_TRY(c.retention.max_total_bytes, parse_bytes(value, k));
  } else if (key == "min-free") {
    GUESTDUMP_TRY(c.min_free, parse_min_free(value, k));
  } else if (key == "crash-loop-dumps") {
    GUESTDUMP_TRY(c.crash_loop.dumps, parse_count(value, k));
  } else if (key == "crash-loop-window") {
    GUESTDUMP_TRY(c.crash_loop.window, parse_duration(value, k));
  } else if (key == "hang-timeout") {
    GUESTDUMP_TRY(c.hang.timeout, parse_duration(value, k));
  } else if (key == "hang-grace") {
    GUESTDUMP_TRY(c.hang.grace, parse_duration(value, k));
  } else if (key == "hang-interval") {
    GUESTDUMP_TRY(c.hang.interval, parse_duration(value, k));
  } else if (key == "hang-samples") {
    GUESTDUMP_TRY(c.hang.samples, parse_count(value, k));
  } else if (key == "nmi-timeout") {
    GUESTDUMP_TRY(c.hang.nmi_timeout, parse_duration(value, k));
  } else if (key == "hang-busy-percent") {
    GUESTDUMP_TRY(c.hang.busy_percent, parse_count(value, k));
  } else if (key == "hang-idle-percent") {
    GUESTDUMP_TRY(c.hang.idle_percent, parse_count(value, k));
  } else {
    return make_error(ErrorCode::kNotFound, "unknown key '" + k + "'");
  }
  return {};
}

Result<> validate(const PolicyConfig& config) {
  for (const std::string& p : config.selection.include)
    GUESTDUMP_CHECK(check_pattern("include", p));
  for (const std::string& p : config.selection.exclude)
    GUESTDUMP_CHECK(check_pattern("exclude", p));
  GUESTDUMP_CHECK(check_level("dump-level", config.defaults.dump_level));
  for (const GuestOverride& o : config.overrides) {
    GUESTDUMP_CHECK(check_pattern("override", o.pattern));
    if (o.dump_level) {
      GUESTDUMP_CHECK(check_level("override '" + o.pattern + "' dump-level", *o.dump_level));
    }
    if (!o.dump_level && !o.codec && !o.after_dump && !o.hang_action) {
      return invalid("override", o.pattern, "no settings");
    }
  }

  if (config.retention.max_age.count() < 0) {
    return invalid("max-age", seconds_text(config.retention.max_age), "must not be negative");
  }
  if (config.min_free.percent > 99) {
    return invalid("min-free", std::to_string(config.min_free.percent) + "%", "expected 0% to 99%");
  }
  if (config.crash_loop.dumps > 0 && config.crash_loop.window <= Duration::zero()) {
    return invalid("crash-loop-window", seconds_text(config.crash_loop.window),
                   "must be positive when crash-loop-dumps is not 0");
  }

  const HangPolicy& h = config.hang;
  if (h.timeout.count() < 0) {
    return invalid("hang-timeout", seconds_text(h.timeout), "must not be negative");
  }
  if (h.timeout.count() == 0) return {}; // hang detection off: its other keys do not matter
  if (h.interval <= Duration::zero()) {
    return invalid("hang-interval", seconds_text(h.interval), "must be positive");
  }
  if (h.interval < std::chrono::seconds(2)) {
    // Once a guest agent has timed out, libvirt re-syncs it before the next command with its
    // own 5 s timeout, so a silent agent holds each sample about 5 s; below 2 s that is more
    // than 3 intervals, every such sample would count as a clock jump and the hang would
    // never be called.
    return invalid("hang-interval", seconds_text(h.interval),
                   "must be at least 2 (a silent guest agent holds each sample for libvirt's "
                   "5 s re-sync)");
  }
  if (h.interval > h.timeout) {
    return invalid("hang-interval", seconds_text(h.interval),
                   "must not exceed hang-timeout (" + seconds_text(h.timeout) + ")");
  }
  if (h.grace.count() < 0) {
    return invalid("hang-grace", seconds_text(h.grace), "must not be negative");
  }
  if (h.samples == 0) return invalid("hang-samples", "0", "must be at least 1");
  if (h.nmi_timeout <= Duration::zero()) {
    return invalid("nmi-timeout", seconds_text(h.nmi_timeout), "must be positive");
  }
  if (h.busy_percent == 0 || h.busy_percent > 100) {
    return invalid("hang-busy-percent", std::to_string(h.busy_percent), "expected 1 to 100");
  }
  if (h.idle_percent >= h.busy_percent) {
    return invalid("hang-idle-percent", std::to_string(h.idle_percent),
                   "must be below hang-busy-percent (" + std::to_string(h.busy_percent) + ")");
  }
  return {};
}

} // namespace guestdump::policies
