#pragma once
// Shared by the daemon core's parts (daemon.cpp: lifecycle; dispatcher.cpp: events and
// triggers; sampler.cpp: hang sampling; job_runner.cpp: dump jobs, retention, after-dump,
// post-hook): the limits they share and the mapping from hypervisor states to policy inputs.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

#include "guestdump/host/daemon_config.h"
#include "guestdump/host/hypervisor.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/policies/hang_detector.h"
#include "guestdump/policies/selection.h"

namespace guestdump::host::daemon_detail {

inline constexpr const char* kLog = "daemon";

// Events waiting for the dispatcher; beyond this a connection is reconciled instead.
inline constexpr std::size_t kMaxQueuedEvents = 4096;
// Guest-agent queries: two workers, a bounded queue, one query per guest and kind per minute.
inline constexpr unsigned kGuestCallWorkers = 2;
inline constexpr std::size_t kMaxQueuedGuestCalls = 256;
inline constexpr std::chrono::milliseconds kGuestCallInterval{std::chrono::seconds(60)};
inline constexpr unsigned kAgentPingWorkers = 8;

inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Marks a core thread busy (steady_ns() in `since`) for the scope of one step.
struct BusyMark {
  std::atomic<std::int64_t>& since;
  explicit BusyMark(std::atomic<std::int64_t>& s) : since(s) { since.store(steady_ns()); }
  ~BusyMark() { since.store(0); }
  BusyMark(const BusyMark&) = delete;
  BusyMark& operator=(const BusyMark&) = delete;
};

// Now, as "2026-12-03T12:00:00Z".
inline std::string utc_now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

inline std::string guest_key(const std::string& uri, const std::string& uuid) {
  return uri + " " + uuid;
}

inline policies::WallTime wall_now() {
  return std::chrono::time_point_cast<policies::Duration>(std::chrono::system_clock::now());
}

inline policies::MonoTime mono_now() {
  return policies::MonoTime(std::chrono::duration_cast<policies::Duration>(
      std::chrono::steady_clock::now().time_since_epoch()));
}

inline policies::GuestIdentity identity(const DomainStatus& s) {
  policies::GuestIdentity g;
  g.name = s.name;
  g.uuid = s.uuid;
  if (s.watch)
    g.metadata = *s.watch ? policies::MetadataOptIn::kOptIn : policies::MetadataOptIn::kOptOut;
  return g;
}

inline policies::AgentStatus agent_status_of(AgentPing p) {
  switch (p) {
  case AgentPing::kAnswered:
    return policies::AgentStatus::kAnswered;
  case AgentPing::kNotInstalled:
    return policies::AgentStatus::kNotInstalled;
  case AgentPing::kNotConnected:
    return policies::AgentStatus::kNotConnected;
  case AgentPing::kFailed:
    return policies::AgentStatus::kFailed;
  }
  return policies::AgentStatus::kUnknown;
}

inline policies::Lifecycle lifecycle_of(const DomainStatus& s) {
  switch (s.state) {
  case DomainRunState::kRunning:
    return policies::Lifecycle::kRunning;
  case DomainRunState::kPaused:
    return s.migrating ? policies::Lifecycle::kMigrating : policies::Lifecycle::kPaused;
  case DomainRunState::kShuttingDown:
    return policies::Lifecycle::kShuttingDown;
  case DomainRunState::kCrashed:
    return policies::Lifecycle::kCrashed;
  case DomainRunState::kPmSuspended:
    return policies::Lifecycle::kPmSuspended;
  case DomainRunState::kShutOff:
  case DomainRunState::kOther:
    break;
  }
  return policies::Lifecycle::kShutOff;
}

inline policies::GuestRunState run_state_of(const DomainStatus& s) {
  if (s.panicked || s.state == DomainRunState::kCrashed) {
    return policies::GuestRunState::kCrashed;
  }
  switch (s.state) {
  case DomainRunState::kRunning:
    return policies::GuestRunState::kRunning;
  case DomainRunState::kShutOff:
    return policies::GuestRunState::kShutOff;
  default:
    return policies::GuestRunState::kPaused;
  }
}

// Whether a reload changes how dumps are uploaded (so the upload threads start anew).
inline bool upload_settings_differ(const DaemonConfig& a, const DaemonConfig& b) {
  auto endpoint = [](const DaemonConfig& c) {
    if (!c.upload_s3) return std::string();
    const objstore::Credentials& k = c.upload_s3->credentials;
    return c.upload_s3->endpoint + "\n" + c.upload_s3->region + "\n" +
           (c.upload_s3->addressing == objstore::Addressing::kPath ? "path" : "vhost") + "\n" +
           k.access_key_id + "\n" + k.secret_access_key + "\n" + k.session_token;
  };
  return a.upload != b.upload || a.upload_part_size != b.upload_part_size ||
         a.upload_parallel != b.upload_parallel || a.upload_jobs != b.upload_jobs ||
         a.upload_max_rate != b.upload_max_rate || a.dump_dir != b.dump_dir ||
         endpoint(a) != endpoint(b);
}

} // namespace guestdump::host::daemon_detail
