#pragma once
// What `guestdump-guest capture` does, decided without I/O: its configuration (defaults, the
// capture initramfs's config file, `guestdump.*=` kernel parameters, command-line flags, in that
// order of precedence) and what happens to the machine afterwards.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/codec.h"

namespace guestdump::guest {

/// What the machine does once capture is over (successful or not).
enum class AfterAction {
  kReboot,
  kHalt,
  kPoweroff,
  kShell, // an interactive shell on the console, then reboot when it exits
  kNone,  // return to the caller (only when not PID 1 and not in a capture kernel)
};

std::optional<AfterAction> parse_after(std::string_view name);
std::string_view after_name(AfterAction action);

/// Config file inside the capture initramfs (key=value lines, '#' comments).
inline constexpr const char* kCaptureConfigFile = "/etc/guestdump-capture.conf";
/// Kernel modules the capture init loads, one initramfs path per line, in load order.
inline constexpr const char* kCaptureModulesFile = "/etc/guestdump/modules";
/// Where the capture init mounts the dump device.
inline constexpr const char* kCaptureMountPoint = "/run/guestdump/target";

struct CaptureConfig {
  std::string vmcore = "/proc/vmcore";
  /// Dump directory: "-" streams the flattened format to stdout. With `device` set it is a path
  /// on that file system.
  std::string to = "/var/crash";
  std::string device; // UUID=..., LABEL=... or /dev/...; empty: `to` is on the running system
  int dump_level = 31;
  formats::Codec codec = formats::Codec::kZstd;
  std::uint64_t min_free = 0; // bytes that must be free on the target before writing
  unsigned keep = 0;          // dumps kept in `to`, the new one included; 0 = all
  /// Dumps wait for `guestdump-guest upload` on the next boot: `keep` never deletes a complete
  /// dump whose meta.json does not confirm its upload (the kernel hook sets it when the system
  /// has an upload target, GUESTDUMP_UPLOAD).
  bool hold_unuploaded = false;
  std::optional<AfterAction> after;
  unsigned device_timeout = 30; // seconds to wait for the device to appear
};

/// Applies one `key=value` setting (keys: vmcore, to, device, dump-level, codec, min-free, keep,
/// hold-unuploaded (yes or no), after, device-timeout). Errors name `source` and the key.
Result<void> apply_capture_setting(CaptureConfig& cfg, std::string_view key, std::string_view value,
                                   std::string_view source);
/// Applies a config file's text: blank lines and '#' comments are skipped.
Result<void> apply_capture_config_text(CaptureConfig& cfg, std::string_view text,
                                       std::string_view source);
/// Applies the `guestdump.<key>=<value>` words of a kernel command line; other words are ignored.
Result<void> apply_kernel_cmdline(CaptureConfig& cfg, std::string_view cmdline);

/// Sizes: plain bytes or with a K, M, G, T suffix (powers of 1024, optional "iB"/"B").
Result<std::uint64_t> parse_size(std::string_view text, std::string_view what);

struct AfterDecision {
  AfterAction action = AfterAction::kReboot;
  std::string reason;
};

/// What to do once capture ends. The machine is never left hanging: as PID 1 (the capture
/// initramfs /init) or in a capture kernel the default is reboot, whatever the outcome; `none`
/// cannot apply to PID 1 (its exit panics the kernel), and `shell` without a shell reboots.
/// Outside a capture kernel and not PID 1 (a test or an operator's dry run) nothing is done to
/// the machine.
AfterDecision decide_after(std::optional<AfterAction> requested, bool pid1, bool in_capture_kernel,
                           bool capture_ok, bool shell_available);

} // namespace guestdump::guest
