#pragma once
// guestdumpd's numbers for alerting, in the Prometheus text format that node-exporter's
// textfile collector reads: written whole to a temporary file and renamed, so the collector never
// reads half a file. Every series is documented in docs/operations.md with example alert rules.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <guestdump/common/result.h>

namespace guestdump::host {

struct DaemonStatus;

/// Why a dump was not taken, as the metric's `reason` label.
enum class RefusalReason { kCrashLoop, kFreeSpace, kStore };

class DaemonMetrics {
public:
  /// A dump job ended: outcome "complete", "failed" or "cancelled".
  void dump_ended(std::string_view trigger, std::string_view outcome, double capture_seconds,
                  double pause_seconds, std::uint64_t bytes, std::int64_t finished_at);
  void refused(std::string_view trigger, RefusalReason reason);
  /// An upload attempt ended: outcome "complete", "failed" or "cancelled"; `bytes` and
  /// `seconds` count for complete ones.
  void upload_ended(std::string_view outcome, double seconds, std::uint64_t bytes);

  /// The whole file: counters, then the gauges of `status` and of the store's file system.
  std::string render(const DaemonStatus& status, std::optional<std::uint64_t> store_free,
                     std::optional<std::uint64_t> store_size) const;

private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> dumps_;    // (trigger, outcome)
  std::map<std::pair<std::string, std::string>, std::uint64_t> refusals_; // (trigger, reason)
  double capture_seconds_sum_ = 0;
  double pause_seconds_sum_ = 0;
  std::uint64_t captures_ = 0;
  std::uint64_t bytes_written_ = 0;
  std::map<std::string, std::uint64_t> uploads_; // by outcome
  std::uint64_t upload_bytes_ = 0;
  double upload_seconds_sum_ = 0;
  std::uint64_t uploads_complete_ = 0;
  std::int64_t last_complete_ = 0;
  double last_capture_seconds_ = 0;
  double last_pause_seconds_ = 0;
};

} // namespace guestdump::host
