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
#include <guestdump/policies/crash_loop.h>
#include <guestdump/policies/hang_detector.h>
#include <guestdump/store/dump_store.h>

namespace guestdump::host {

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

private:
  struct Guest; // per-guest hang state

  void on_event(WatchEvent event); // event loop thread: queue only
  void dispatcher_main();
  void handle(const WatchEvent& event);
  void reconcile(const std::string& uri);
  void consider_dump(const Hypervisor& w, const DomainStatus& status, const std::string& trigger);
  void act_on_hang(const Hypervisor& w, const DomainStatus& status,
                   const policies::HangDecision& decision, const std::string& trigger);
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
  std::map<std::string, std::string> recheck_; // guest_key -> trigger seen while it was busy

  std::mutex ignored_mu_;
  std::set<std::string> ignored_logged_; // "not watched" said once per guest
};

} // namespace guestdump::host
