#pragma once
// guestdumpd's configuration: the config file (Boost.Program_options INI syntax, default
// /etc/guestdump/guestdumpd.conf) and the command line, where every key is also a `--flag`.
//
// Daemon keys live here; policy keys (docs/config.md) are handed to policies::apply_option and
// checked with policies::validate. Flags win over the file for single-valued keys; repeatable
// keys (connect, include, exclude, override) collect the values of both. Every error is one
// line naming the key (or the file) and the value.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <guestdump/common/result.h>
#include <guestdump/objstore/config.h>
#include <guestdump/policies/config.h>

namespace guestdump::host {

inline constexpr const char* kDefaultConfigFile = "/etc/guestdump/guestdumpd.conf";
inline constexpr const char* kDefaultDumpDir = "/var/lib/guestdump/dumps";
// node-exporter's textfile collector directory on Debian (prometheus-node-exporter).
inline constexpr const char* kDefaultMetricsFile =
    "/var/lib/prometheus/node-exporter/guestdumpd.prom";

struct DaemonConfig {
  std::vector<std::string> connect;            // libvirt URIs; default {"qemu:///system"}
  std::string dump_dir = kDefaultDumpDir;      // the dump store
  std::string post_hook;                       // run as `sh -c 'HOOK "$1"' hook DIR`; empty: none
  std::chrono::seconds post_hook_timeout{300}; // then its process group is killed
  std::uint32_t jobs = 1;                      // dumps at once (1-64)
  std::chrono::seconds keepalive_interval{5};  // libvirt client keepalive; 0 turns it off
  std::uint32_t keepalive_count = 3;
  std::chrono::seconds reconnect_max{60};         // longest wait between reconnect attempts
  std::chrono::seconds stop_timeout{60};          // SIGTERM: let running dumps finish this long
  std::string log_level = "info";                 // debug, info, warn, error
  std::string metrics_file = kDefaultMetricsFile; // empty: no metrics file
  // The remote store (issue 16): `upload` empty means none. The endpoint, region and credentials
  // come from the environment and files by the AWS CLI's conventions and are resolved when the
  // configuration is read (so a reload that cannot find them is refused).
  std::string upload;                                       // "s3://BUCKET/PREFIX" as given
  std::optional<objstore::S3Url> upload_url;                // parsed; set iff upload is not empty
  std::optional<objstore::S3Config> upload_s3;              // resolved; set iff upload is not empty
  std::uint64_t upload_part_size = std::uint64_t{64} << 20; // bytes per multipart part (>= 5 MiB)
  std::uint32_t upload_parallel = 4;                        // parts of one file in flight (1-32)
  std::uint32_t upload_jobs = 1;                            // dumps uploaded at once (1-16)
  std::uint64_t upload_max_rate = 0;                        // bytes/s per request; 0: unlimited
  std::optional<std::uint32_t> keep_local; // uploaded dumps kept locally; nullopt: all
  policies::PolicyConfig policy;
  std::string config_file; // the file that was read; empty if none existed at the default path
};

/// What the command line asked for besides the configuration.
struct DaemonCommandLine {
  DaemonConfig config;
  bool help = false;
  bool version = false;
  bool check_config = false;
};

/// Parses `args` (without argv[0]) and the config file (`--config FILE`, else the default path
/// if it exists; a file named by --config must exist), then validates. Errors are kInvalidArgument
/// (bad value, unknown key) or kNotFound (missing --config file), with one-line messages.
/// `upload` is resolved from `env` (objstore::resolve_s3_config); the one-argument form uses the
/// process's environment.
Result<DaemonCommandLine> parse_daemon_command_line(const std::vector<std::string>& args);
Result<DaemonCommandLine> parse_daemon_command_line(const std::vector<std::string>& args,
                                                    const objstore::Environment& env);

/// The --help text (daemon keys and every policy key).
std::string daemon_usage();

} // namespace guestdump::host
