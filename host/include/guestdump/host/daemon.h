#pragma once
// guestdumpd's core: watchers feed events to a dispatcher thread, which applies the selection,
// de-duplication and crash-loop policies and queues dump jobs; workers capture through
// libvirt, apply retention, the after-dump action and the post-hook; a sampler thread feeds
// the hang detectors.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <guestdump/common/result.h>
#include <guestdump/host/daemon_config.h>
#include <guestdump/host/guest_calls.h>
#include <guestdump/host/hypervisor.h>
#include <guestdump/host/job_queue.h>
#include <guestdump/host/metrics.h>
#include <guestdump/host/upload_queue.h>
#include <guestdump/policies/crash_loop.h>
#include <guestdump/policies/hang_detector.h>
#include <guestdump/store/dump_store.h>

namespace guestdump::host {

/// What the daemon is doing, for systemd's STATUS= and its watchdog.
struct DaemonStatus {
  std::size_t connections = 0;    // libvirt URIs
  std::size_t connected = 0;      // of them, connected now
  std::size_t guests_watched = 0; // at the last listing (reconcile or hang sample)
  std::size_t dumps_running = 0;
  std::size_t uploads_waiting = 0; // dumps not uploaded yet: queued, running, retried later
  std::string last_dump;           // "'web1' complete at 2026-12-03T12:00:00Z", or empty
  /// Set when a core thread has spent longer than kStuckAfter on one step: what and how long.
  /// The watchdog is then no longer fed, so systemd restarts the daemon.
  std::string stuck;
};

/// One event (dispatcher) or one sample (sampler) taking longer than this means a core thread
/// is stuck.
inline constexpr std::chrono::seconds kStuckAfter{180};

/// "watching 3 guest(s) on 1/1 connection(s); 1 dump(s) running; last: 'web1' complete at ...".
std::string status_line(const DaemonStatus& s);

class Daemon {
public:
  /// `driver` opens the connections (libvirt by default; a fake in the unit tests).
  explicit Daemon(DaemonConfig config, HypervisorDriver driver = libvirt_driver());
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Opens the store, connects every URI (failing on the first unreachable one), starts the
  /// threads. Afterwards events flow.
  Result<void> start();
  /// Applies a new configuration (SIGHUP). `connect` changes need a restart.
  void reload(DaemonConfig config);
  /// SIGTERM: no new dumps; running ones get stop-timeout to finish, then are cancelled.
  void stop();
  /// A snapshot for STATUS= and the watchdog; never blocks on libvirt.
  DaemonStatus status() const;
  /// Rewrites the metrics file (metrics-file; nothing when it is empty). Called after every
  /// dump and periodically by the main loop.
  void write_metrics();
  /// The metrics file's text as it would be written now.
  std::string metrics_text() const;
  /// Replaces how a dump directory is uploaded (objstore::upload_dump to `upload`), for tests;
  /// call before start().
  void set_uploader(UploadQueue::Uploader uploader);

private:
  struct Guest; // per-guest hang state

  void on_event(WatchEvent event); // event loop thread: queue only
  void dispatcher_main();
  void handle(const WatchEvent& event);
  void reconcile(const std::string& uri);
  void consider_dump(const Hypervisor& w, const DomainStatus& status, policies::Trigger trigger);
  void act_on_hang(const Hypervisor& w, const DomainStatus& status,
                   const policies::HangDecision& decision, policies::Trigger trigger);
  void sampler_main();
  void sample_once();
  void run_job(const DumpJob& job); // never throws
  void dump_job(const DumpJob& job);
  void job_done(const DumpJob& job); // a job's slot is free: recheck the guest if asked
  void recheck_when_idle(const DumpJob& job, const CrashMark& mark);
  void job_failed_unexpectedly(const DumpJob& job, const std::string& what);
  /// Runs `fn`, logging (never propagating) anything it throws.
  static void guarded(const char* what, const std::function<void()>& fn);
  void apply_retention(const store::DumpStore& store, const DaemonConfig& cfg,
                       std::uint64_t incoming, const std::string& when);
  void after_dump(const Hypervisor& w, const DumpJob& job, const policies::DumpSettings& settings);

  // Uploads (uploads.cpp).
  void start_uploads(const std::shared_ptr<const DaemonConfig>& cfg);
  void stop_uploads();
  void queue_pending_uploads(const char* when);
  void queue_upload(const std::string& dir);
  void upload_ended(const UploadEnd& end);
  void apply_keep_local(const DaemonConfig& cfg, const std::string& when);

  std::shared_ptr<const DaemonConfig> config() const;
  const Hypervisor* watcher(const std::string& uri) const;
  bool watched(const DomainStatus& status, bool log_refusal);
  policies::HangDetector& detector(const std::string& key, const DomainStatus& status);

  mutable std::mutex config_mu_;
  std::shared_ptr<const DaemonConfig> config_;
  HypervisorDriver driver_;
  std::optional<store::DumpStore> store_;

  std::vector<std::unique_ptr<Hypervisor>> watchers_;
  std::unique_ptr<JobQueue> jobs_;
  CrashTracker tracker_;

  std::mutex limiter_mu_;
  policies::CrashLoopLimiter limiter_;

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<WatchEvent> events_; // at most kMaxQueuedEvents
  std::set<std::string> resync_;  // URIs whose events were dropped: reconcile them
  bool stopping_ = false;
  std::thread dispatcher_;

  std::mutex hang_mu_;
  std::map<std::string, std::unique_ptr<policies::HangDetector>> detectors_;
  // Per guest boot (guest_key): the VMCOREINFO note's address as the agent reported it, for the
  // locator when a dump carries no VMCOREINFO. Dropped on start, stop and reboot.
  std::map<std::string, std::uint64_t> vmcoreinfo_pa_; // guarded by hang_mu_
  std::condition_variable sampler_cv_;
  bool sampler_stop_ = false;
  std::thread sampler_;

  std::mutex space_mu_;
  std::uint64_t reserved_bytes_ = 0; // upper bounds of running dumps

  std::unique_ptr<GuestCalls> guest_calls_; // agent queries, off the event thread
  std::unique_ptr<GuestCalls> agent_pings_; // the sampler's guest-ping, all at once

  std::mutex recheck_mu_;
  std::map<std::string, policies::Trigger> recheck_; // guest_key -> trigger seen while busy

  // Progress of the core threads, for status(): when the current step began (0: idle).
  std::atomic<std::int64_t> dispatcher_busy_since_{0}; // steady_clock ns
  std::atomic<std::int64_t> sampler_busy_since_{0};
  DaemonMetrics metrics_;
  std::mutex metrics_file_mu_;
  std::string metrics_error_; // the last write error, logged once until it changes
  mutable std::mutex status_mu_;
  std::map<std::string, std::size_t> watched_by_uri_; // at the last listing of each URI
  std::string last_dump_;
  void set_watched_count(const std::string& uri, std::size_t n);
  void set_last_dump(const std::string& what);

  mutable std::mutex upload_mu_;
  std::unique_ptr<UploadQueue> uploads_; // null when `upload` is empty, or stopped
  UploadQueue::Uploader uploader_;       // set_uploader(); empty: objstore::upload_dump
  std::mutex keep_local_mu_;             // one keep-local pass at a time

  std::mutex ignored_mu_;
  std::set<std::string> ignored_logged_; // "not watched" said once per guest
};

} // namespace guestdump::host
