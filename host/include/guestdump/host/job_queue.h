#pragma once
// guestdumpd's dump work, away from libvirt's event thread: a queue of dump jobs run by a
// bounded number of workers (`jobs`), with per-guest de-duplication, and the record of which
// crash of each guest has already been claimed, so that one crash gives one dump.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <guestdump/policies/after_dump.h>

namespace guestdump::host {

/// One dump to take.
struct DumpJob {
  std::string uri;
  std::string name;
  std::string uuid; // the de-duplication key (with uri)
  policies::Trigger trigger = policies::Trigger::kPanic;
  /// Non-empty: the dump was refused (crash-loop limit) for this reason; the job only applies
  /// the after-dump policy, so a refused guest is not left crashed.
  std::string refused;
};

/// Runs dump jobs on `workers` threads. At most one job per guest (uri + uuid) is queued or
/// running at a time: a second submit for the same guest is refused as a duplicate.
class JobQueue {
public:
  using Runner = std::function<void(const DumpJob&)>;
  enum class Admit { kQueued, kDuplicate, kStopped };

  /// `done` (optional) runs on the worker after a job's slot is free again: a submit() for the
  /// same guest from there, or after it, is no longer a duplicate.
  JobQueue(unsigned workers, Runner run, Runner done = nullptr);
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  Admit submit(DumpJob job);
  /// Changes the concurrency limit (configuration reload); running jobs are not interrupted.
  void set_workers(unsigned workers);
  /// Stops taking jobs and drops the queued ones (returned, for the log); running jobs go on.
  std::vector<DumpJob> close();
  /// Waits until no job runs, up to `deadline`; true if idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  /// Joins the workers (after close(); waits for running jobs).
  void join();

  std::size_t queued() const;
  std::size_t running() const;
  /// Guests (uri + " " + uuid) with a job queued or running.
  bool busy(const std::string& uri, const std::string& uuid) const;

private:
  void worker_main();
  static std::string key(const DumpJob& job) { return job.uri + " " + job.uuid; }

  Runner run_;
  Runner done_;
  mutable std::mutex mu_;
  std::condition_variable cv_;      // workers: a job or a limit change arrived
  std::condition_variable idle_cv_; // a job finished
  std::deque<DumpJob> queue_;
  std::set<std::string> active_; // queued or running
  unsigned limit_ = 1;
  std::size_t running_ = 0;
  bool closed_ = false;
  std::vector<std::thread> threads_;
};

/// Identifies one crash of a guest: the libvirt domain id of its QEMU process and the vCPU time
/// it had consumed when it stopped (frozen while a crashed guest stays paused). A guest that
/// runs again gets a new id or more vCPU time, so its next crash is a different one.
struct CrashMark {
  int domain_id = -1;
  std::optional<std::uint64_t> vcpu_time_ns; // nullopt: not known

  /// Same crash: same domain id and, when both are known, vCPU times within `slack`.
  bool same_crash(const CrashMark& other, std::uint64_t slack_ns = 1'000'000'000) const;
};

/// Which crash of each guest has been claimed for a dump. Thread-safe.
class CrashTracker {
public:
  /// Claims the crash `mark` of `guest` (uri + uuid); false if it was already claimed.
  bool claim(const std::string& guest, const CrashMark& mark);
  /// The guest runs again (started, resumed, rebooted): any further crash is new.
  void running_again(const std::string& guest);
  /// Gives a claim back (the dump was refused before it started, e.g. no space), so that a
  /// later look (reconcile) may try again.
  void release(const std::string& guest, const CrashMark& mark);
  /// Seeds from the store: `mark` was dumped by an earlier daemon.
  void seed(const std::string& guest, const CrashMark& mark);
  bool claimed(const std::string& guest) const;

private:
  mutable std::mutex mu_;
  std::map<std::string, CrashMark> claimed_;
};

} // namespace guestdump::host
