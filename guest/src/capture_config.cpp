// Capture configuration and the pure decisions around it; see capture_config.h.

#include "guestdump/guest/capture_config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "guestdump/common/text.h"

namespace guestdump::guest {

namespace {

// Digits only: from_chars into a signed type would take "-9".
template <typename T> bool parse_uint(std::string_view s, T& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Error bad_value(std::string_view source, std::string_view key, std::string_view value,
                std::string_view expected) {
  return make_error(ErrorCode::kInvalidArgument, std::string(source) + ": " + std::string(key) +
                                                     " '" + std::string(value) + "': expected " +
                                                     std::string(expected));
}

} // namespace

std::optional<AfterAction> parse_after(std::string_view name) {
  if (name == "reboot") return AfterAction::kReboot;
  if (name == "halt") return AfterAction::kHalt;
  if (name == "poweroff") return AfterAction::kPoweroff;
  if (name == "shell") return AfterAction::kShell;
  if (name == "none") return AfterAction::kNone;
  return std::nullopt;
}

std::string_view after_name(AfterAction action) {
  switch (action) {
  case AfterAction::kReboot:
    return "reboot";
  case AfterAction::kHalt:
    return "halt";
  case AfterAction::kPoweroff:
    return "poweroff";
  case AfterAction::kShell:
    return "shell";
  case AfterAction::kNone:
    return "none";
  }
  return "reboot";
}

Result<std::uint64_t> parse_size(std::string_view text, std::string_view what) {
  auto n = parse_byte_size(text);
  if (!n) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + " '" + std::string(text) + "': " + n.error().message);
  }
  return *n;
}

Result<void> apply_capture_setting(CaptureConfig& cfg, std::string_view key, std::string_view value,
                                   std::string_view source) {
  if (key == "vmcore") {
    if (value.empty()) return bad_value(source, key, value, "a path");
    cfg.vmcore = value;
  } else if (key == "to") {
    if (value.empty()) return bad_value(source, key, value, "a directory or '-'");
    cfg.to = value;
  } else if (key == "device") {
    if (!value.empty() && !value.starts_with("UUID=") && !value.starts_with("LABEL=") &&
        !value.starts_with("/dev/"))
      return bad_value(source, key, value, "UUID=..., LABEL=... or /dev/...");
    cfg.device = value;
  } else if (key == "dump-level") {
    int level = -1;
    if (!parse_uint(value, level) || level > 31) return bad_value(source, key, value, "0-31");
    cfg.dump_level = level;
  } else if (key == "codec") {
    auto codec = formats::parse_codec(value);
    if (!codec) return bad_value(source, key, value, "zstd, zlib, lzo, snappy or none");
    cfg.codec = *codec;
  } else if (key == "min-free") {
    auto n = parse_size(value, std::string(source) + ": min-free");
    if (!n) return std::move(n).error();
    cfg.min_free = *n;
  } else if (key == "keep") {
    if (!parse_uint(value, cfg.keep)) return bad_value(source, key, value, "a count");
  } else if (key == "hold-unuploaded") {
    if (value != "yes" && value != "no") return bad_value(source, key, value, "yes or no");
    cfg.hold_unuploaded = value == "yes";
  } else if (key == "after") {
    auto a = parse_after(value);
    if (!a) return bad_value(source, key, value, "reboot, halt, poweroff, shell or none");
    cfg.after = *a;
  } else if (key == "device-timeout") {
    if (!parse_uint(value, cfg.device_timeout)) return bad_value(source, key, value, "seconds");
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(source) + ": unknown key '" + std::string(key) + "'");
  }
  return {};
}

Result<void> apply_capture_config_text(CaptureConfig& cfg, std::string_view text,
                                       std::string_view source) {
  unsigned line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    std::size_t eq = line.find('=');
    std::string where = std::string(source) + ":" + std::to_string(line_no);
    if (eq == std::string_view::npos)
      return make_error(ErrorCode::kInvalidArgument, where + ": expected key=value");
    GUESTDUMP_CHECK(
        apply_capture_setting(cfg, trim(line.substr(0, eq)), trim(line.substr(eq + 1)), where));
  }
  return {};
}

Result<void> apply_kernel_cmdline(CaptureConfig& cfg, std::string_view cmdline) {
  constexpr std::string_view kPrefix = "guestdump.";
  while (!cmdline.empty()) {
    std::size_t start = cmdline.find_first_not_of(" \t\n");
    if (start == std::string_view::npos) break;
    cmdline.remove_prefix(start);
    std::size_t end = cmdline.find_first_of(" \t\n");
    std::string_view word = cmdline.substr(0, end);
    cmdline = end == std::string_view::npos ? std::string_view{} : cmdline.substr(end);
    if (!word.starts_with(kPrefix)) continue;
    word.remove_prefix(kPrefix.size());
    std::size_t eq = word.find('=');
    if (eq == std::string_view::npos)
      return make_error(ErrorCode::kInvalidArgument, "kernel command line: guestdump." +
                                                         std::string(word) + ": expected =value");
    GUESTDUMP_CHECK(
        apply_capture_setting(cfg, word.substr(0, eq), word.substr(eq + 1), "kernel command line"));
  }
  return {};
}

AfterDecision decide_after(std::optional<AfterAction> requested, bool pid1, bool in_capture_kernel,
                           bool capture_ok, bool shell_available) {
  std::string outcome = capture_ok ? "capture done" : "capture failed";
  if (!pid1 && !in_capture_kernel) {
    std::string why = outcome + "; not in a capture kernel (no vmcore) and not PID 1";
    if (requested && *requested != AfterAction::kNone)
      why += ": '" + std::string(after_name(*requested)) + "' not carried out";
    return {AfterAction::kNone, why};
  }
  AfterAction a = requested.value_or(AfterAction::kReboot);
  std::string why = outcome + "; " + (requested ? "configured" : "default") + " action";
  if (a == AfterAction::kNone && pid1) {
    a = AfterAction::kReboot;
    why = outcome + "; 'none' is impossible as PID 1, rebooting";
  } else if (a == AfterAction::kShell && !shell_available) {
    a = AfterAction::kReboot;
    why = outcome + "; no /bin/sh in this initramfs for 'shell', rebooting";
  }
  return {a, why};
}

} // namespace guestdump::guest
