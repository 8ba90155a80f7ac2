#pragma once
// The policy configuration of guestdumpd as plain structs, with the defaults of docs/config.md.
//
// The daemon maps its config file and flags (Boost.Program_options, keys named as in design.md
// §2) onto PolicyConfig, using the parse_* functions below for values that are not plain
// integers, then calls validate(). Every error names the key and the value, e.g.
// "invalid value '40' for 'dump-level': expected 0 to 31".

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <guestdump/common/result.h>

namespace guestdump::policies {

/// Time is always passed in, never read here. Wall-clock times (store timestamps, crash-loop
/// history) are milliseconds since the Unix epoch; the hang detector takes readings of a
/// monotonic clock. Both may jump; each decision documents how it copes.
using Duration = std::chrono::milliseconds;
using WallTime = std::chrono::sys_time<Duration>;
using MonoTime = std::chrono::time_point<std::chrono::steady_clock, Duration>;

/// Page codec of the kdump file (same names as `guestdump convert -c`).
enum class Codec { kZstd, kZlib, kLzo, kSnappy, kNone };

/// What to do with the guest after a dump, named as libvirt's on_crash values.
enum class AfterDump { kPreserve, kResume, kReset, kDestroy, kRestart };

/// What to do when the hang detector calls a guest hung.
enum class HangAction {
  kLog,         // only log and record the event
  kNmi,         // inject an NMI (the guest's kdump or unknown_nmi_panic acts), wait for a panic
  kDump,        // dump from the host
  kNmiThenDump, // inject an NMI; if no panic follows within nmi-timeout, dump from the host
};

/// Per-guest values that overrides may change.
struct DumpSettings {
  int dump_level = 31;
  Codec codec = Codec::kZstd;
  AfterDump after_dump = AfterDump::kPreserve;
  HangAction hang_action = HangAction::kNmiThenDump;
};

/// `override = PATTERN: key=value, ...`: fields left empty keep the global value.
struct GuestOverride {
  std::string pattern; // glob as in SelectionPolicy (name:, uuid: or bare)
  std::optional<int> dump_level = std::nullopt;
  std::optional<Codec> codec = std::nullopt;
  std::optional<AfterDump> after_dump = std::nullopt;
  std::optional<HangAction> hang_action = std::nullopt;
};

/// Which guests the daemon watches (`include`, `exclude`, `require-opt-in`).
struct SelectionPolicy {
  std::vector<std::string> include; // empty: every guest
  std::vector<std::string> exclude;
  bool require_opt_in = false; // only guests whose libvirt metadata opts in
};

/// Dump store retention (`keep`, `max-age`, `max-total`); 0 turns a limit off.
struct RetentionPolicy {
  std::uint32_t keep = 5;
  Duration max_age{0};
  std::uint64_t max_total_bytes = 0;
};

/// Space that must stay free in the store (`min-free`); the larger of both applies.
struct MinFree {
  std::uint64_t bytes = 0;
  std::uint32_t percent = 10; // of the file system's size, 0-100
};

/// At most `dumps` dumps per guest within `window` (`crash-loop-dumps`, `crash-loop-window`);
/// further crashes are only recorded. dumps = 0 turns the limit off.
struct CrashLoopPolicy {
  std::uint32_t dumps = 3;
  Duration window = std::chrono::hours(1);
};

/// Hang detection (`hang-*`, `nmi-timeout`); timeout 0 turns it off.
struct HangPolicy {
  Duration timeout = std::chrono::seconds(120); // evidence needed before "hung"
  Duration grace = std::chrono::seconds(120);   // after start, resume, migration, reboot
  Duration interval = std::chrono::seconds(10); // expected time between samples
  std::uint32_t samples = 3;                    // consecutive bad samples needed as well
  Duration nmi_timeout = std::chrono::seconds(60);
  std::uint32_t busy_percent = 90; // vCPU time >= this share of wall time: spinning
  std::uint32_t idle_percent = 2;  // vCPU time <= this share of wall time: stalled
};

/// All policy settings of guestdumpd.
struct PolicyConfig {
  SelectionPolicy selection;
  DumpSettings defaults;
  std::vector<GuestOverride> overrides;
  RetentionPolicy retention;
  MinFree min_free;
  CrashLoopPolicy crash_loop;
  HangPolicy hang;
};

/// Checks ranges and consistency; the error names the first bad key and its value.
Result<> validate(const PolicyConfig& config);

/// "zstd" | "zlib" | "lzo" | "snappy" | "none"; `key` names the option in errors.
Result<Codec> parse_codec(std::string_view text, std::string_view key = "codec");
/// "preserve" | "resume" | "reset" | "destroy" | "restart".
Result<AfterDump> parse_after_dump(std::string_view text, std::string_view key = "after-dump");
/// "log" | "nmi" | "dump" | "nmi-then-dump".
Result<HangAction> parse_hang_action(std::string_view text, std::string_view key = "hang-action");
/// Decimal 0-31.
Result<int> parse_dump_level(std::string_view text, std::string_view key = "dump-level");
/// "<n>" bytes or "<n>K|M|G|T" (binary multiples, optional "iB"/"B"); overflow is an error.
Result<std::uint64_t> parse_bytes(std::string_view text, std::string_view key);
/// "<n>" seconds or "<n>s|m|h|d".
Result<Duration> parse_duration(std::string_view text, std::string_view key);
/// "10%", "2G", or both separated by a comma ("2G,10%").
Result<MinFree> parse_min_free(std::string_view text, std::string_view key = "min-free");
/// "PATTERN: dump-level=N, codec=C, after-dump=A, hang-action=H" (at least one setting).
Result<GuestOverride> parse_override(std::string_view text, std::string_view key = "override");

/// "true|false|yes|no|on|off|1|0".
Result<bool> parse_bool(std::string_view text, std::string_view key);
/// Decimal 0 to 2^32-1.
Result<std::uint32_t> parse_count(std::string_view text, std::string_view key);

/// One policy key of the config file (and `--flag`), for option tables, --help and docs.
struct PolicyKey {
  std::string_view name;
  std::string_view default_value; // as text; applying it gives PolicyConfig{}'s value
  bool repeatable;                // include, exclude, override: each occurrence appends
  std::string_view help;
};

/// Every policy key, in the order docs/config.md lists them.
std::span<const PolicyKey> policy_keys();

/// Sets `key` from its text value as the config file or a flag gives it; repeatable keys
/// append. Errors name the key and value; an unknown key is kNotFound ("unknown key 'x'").
/// The daemon calls this per option, then validate() once.
Result<> apply_option(PolicyConfig& config, std::string_view key, std::string_view value);

/// The config-file spelling of a value ("zstd", "nmi-then-dump", ...).
std::string_view to_string(Codec codec);
std::string_view to_string(AfterDump action);
std::string_view to_string(HangAction action);

} // namespace guestdump::policies
