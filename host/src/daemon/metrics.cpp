// See metrics.h.

#include "guestdump/host/metrics.h"

#include <cstdio>
#include <span>

#include <sys/stat.h>

#include "guestdump/common/io.h"
#include "guestdump/host/daemon.h"

namespace guestdump::host {
namespace {

std::string_view reason_label(RefusalReason r) {
  switch (r) {
  case RefusalReason::kCrashLoop:
    return "crash_loop";
  case RefusalReason::kFreeSpace:
    return "free_space";
  case RefusalReason::kStore:
    return "store";
  }
  return "other";
}

// Label values are trigger names and fixed words, but escape as the format asks anyway.
std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void series(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

} // namespace

void DaemonMetrics::dump_ended(std::string_view trigger, std::string_view outcome,
                               double capture_seconds, double pause_seconds, std::uint64_t bytes,
                               std::int64_t finished_at) {
  std::lock_guard lock(mu_);
  ++dumps_[{std::string(trigger), std::string(outcome)}];
  bytes_written_ += bytes;
  if (outcome == "complete") {
    ++captures_;
    capture_seconds_sum_ += capture_seconds;
    pause_seconds_sum_ += pause_seconds;
    last_complete_ = finished_at;
    last_capture_seconds_ = capture_seconds;
    last_pause_seconds_ = pause_seconds;
  }
}

void DaemonMetrics::refused(std::string_view trigger, RefusalReason reason) {
  std::lock_guard lock(mu_);
  ++refusals_[{std::string(trigger), std::string(reason_label(reason))}];
}

void DaemonMetrics::upload_ended(std::string_view outcome, double seconds, std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  ++uploads_[std::string(outcome)];
  if (outcome == "complete") {
    ++uploads_complete_;
    upload_seconds_sum_ += seconds;
    upload_bytes_ += bytes;
  }
}

std::string DaemonMetrics::render(const DaemonStatus& st, std::optional<std::uint64_t> store_free,
                                  std::optional<std::uint64_t> store_size) const {
  std::lock_guard lock(mu_);
  std::string out;
  series(out, "guestdumpd_dumps_total", "counter",
         "Dump jobs that ended, by trigger and outcome (complete, failed, cancelled).");
  for (const auto& [k, n] : dumps_) {
    out += "guestdumpd_dumps_total{trigger=\"" + label_value(k.first) + "\",outcome=\"" +
           label_value(k.second) + "\"} " + std::to_string(n) + "\n";
  }
  series(out, "guestdumpd_refusals_total", "counter",
         "Crashes recorded but not dumped, by trigger and reason (crash_loop, free_space, store).");
  for (const auto& [k, n] : refusals_) {
    out += "guestdumpd_refusals_total{trigger=\"" + label_value(k.first) + "\",reason=\"" +
           label_value(k.second) + "\"} " + std::to_string(n) + "\n";
  }
  series(out, "guestdumpd_capture_seconds", "summary", "Wall time of complete captures.");
  out += "guestdumpd_capture_seconds_sum " + number(capture_seconds_sum_) + "\n";
  out += "guestdumpd_capture_seconds_count " + std::to_string(captures_) + "\n";
  series(out, "guestdumpd_pause_seconds", "summary",
         "Time guests were held paused by complete captures.");
  out += "guestdumpd_pause_seconds_sum " + number(pause_seconds_sum_) + "\n";
  out += "guestdumpd_pause_seconds_count " + std::to_string(captures_) + "\n";
  series(out, "guestdumpd_bytes_written_total", "counter", "Bytes of vmcore files written.");
  out += "guestdumpd_bytes_written_total " + std::to_string(bytes_written_) + "\n";
  series(out, "guestdumpd_last_dump_timestamp_seconds", "gauge",
         "When the last complete dump finished (Unix time; 0: none since start).");
  out += "guestdumpd_last_dump_timestamp_seconds " + std::to_string(last_complete_) + "\n";
  series(out, "guestdumpd_last_capture_seconds", "gauge",
         "Wall time of the last complete capture.");
  out += "guestdumpd_last_capture_seconds " + number(last_capture_seconds_) + "\n";
  series(out, "guestdumpd_last_pause_seconds", "gauge",
         "Guest pause of the last complete capture.");
  out += "guestdumpd_last_pause_seconds " + number(last_pause_seconds_) + "\n";
  series(out, "guestdumpd_uploads_total", "counter",
         "Upload attempts of dumps to the remote store, by outcome (complete, failed, cancelled).");
  for (const auto& [k, n] : uploads_) {
    out +=
        "guestdumpd_uploads_total{outcome=\"" + label_value(k) + "\"} " + std::to_string(n) + "\n";
  }
  series(out, "guestdumpd_upload_bytes_total", "counter",
         "Bytes of dump files in complete uploads.");
  out += "guestdumpd_upload_bytes_total " + std::to_string(upload_bytes_) + "\n";
  series(out, "guestdumpd_upload_seconds", "summary", "Wall time of complete uploads.");
  out += "guestdumpd_upload_seconds_sum " + number(upload_seconds_sum_) + "\n";
  out += "guestdumpd_upload_seconds_count " + std::to_string(uploads_complete_) + "\n";
  series(out, "guestdumpd_upload_backlog", "gauge",
         "Dumps waiting for their upload: queued, uploading, or failed and retried later.");
  out += "guestdumpd_upload_backlog " + std::to_string(st.uploads_waiting) + "\n";
  series(out, "guestdumpd_guests_watched", "gauge", "Guests the daemon watches.");
  out += "guestdumpd_guests_watched " + std::to_string(st.guests_watched) + "\n";
  series(out, "guestdumpd_dumps_running", "gauge", "Dump jobs running now.");
  out += "guestdumpd_dumps_running " + std::to_string(st.dumps_running) + "\n";
  series(out, "guestdumpd_connections", "gauge", "libvirt connections configured.");
  out += "guestdumpd_connections " + std::to_string(st.connections) + "\n";
  series(out, "guestdumpd_connections_up", "gauge", "libvirt connections connected now.");
  out += "guestdumpd_connections_up " + std::to_string(st.connected) + "\n";
  series(out, "guestdumpd_stuck", "gauge",
         "1 when a core thread has been on one step too long (the watchdog is then not fed).");
  out += std::string("guestdumpd_stuck ") + (st.stuck.empty() ? "0" : "1") + "\n";
  if (store_free && store_size) {
    series(out, "guestdumpd_store_free_bytes", "gauge",
           "Free bytes on the dump store's file system (for an unprivileged writer).");
    out += "guestdumpd_store_free_bytes " + std::to_string(*store_free) + "\n";
    series(out, "guestdumpd_store_size_bytes", "gauge", "Size of the dump store's file system.");
    out += "guestdumpd_store_size_bytes " + std::to_string(*store_size) + "\n";
  }
  return out;
}

} // namespace guestdump::host
