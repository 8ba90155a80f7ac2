// Dump job queue and crash de-duplication; see job_queue.h.

#include "guestdump/host/job_queue.h"

#include <exception>

#include "guestdump/common/log.h"

namespace guestdump::host {

JobQueue::JobQueue(unsigned workers, Runner run, Runner done)
    : run_(std::move(run)), done_(std::move(done)) {
  set_workers(workers);
}

JobQueue::~JobQueue() {
  close();
  join();
}

JobQueue::Admit JobQueue::submit(DumpJob job) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return Admit::kStopped;
    if (!active_.insert(key(job)).second) return Admit::kDuplicate;
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return Admit::kQueued;
}

void JobQueue::set_workers(unsigned workers) {
  if (workers == 0) workers = 1;
  {
    std::lock_guard lock(mu_);
    limit_ = workers;
    // Threads are only ever added: a lower limit makes the extra ones wait.
    while (threads_.size() < limit_ && !closed_) threads_.emplace_back([this] { worker_main(); });
  }
  cv_.notify_all();
}

std::vector<DumpJob> JobQueue::close() {
  std::vector<DumpJob> dropped;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (DumpJob& j : queue_) {
      active_.erase(key(j));
      dropped.push_back(std::move(j));
    }
    queue_.clear();
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  return dropped;
}

bool JobQueue::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_until(lock, deadline, [&] { return running_ == 0 && queue_.empty(); });
}

void JobQueue::join() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

std::size_t JobQueue::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t JobQueue::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

bool JobQueue::busy(const std::string& uri, const std::string& uuid) const {
  std::lock_guard lock(mu_);
  return active_.count(uri + " " + uuid) != 0;
}

void JobQueue::worker_main() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return closed_ || (!queue_.empty() && running_ < limit_); });
    if (closed_ && queue_.empty()) return;
    if (queue_.empty() || running_ >= limit_) continue;
    DumpJob job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    // The runner records its own failures; this is the last line for what it did not expect
    // (a bug, bad_alloc): one guest's dump never ends a worker, let alone the daemon.
    try {
      run_(job);
    } catch (const std::exception& e) {
      GUESTDUMP_LOG(kError, "daemon")
          << "dump job of '" << job.name << "' ended by an unexpected error: " << e.what();
    } catch (...) {
      GUESTDUMP_LOG(kError, "daemon")
          << "dump job of '" << job.name << "' ended by an unexpected error";
    }
    lock.lock();
    --running_;
    active_.erase(key(job));
    if (done_) {
      lock.unlock();
      try {
        done_(job);
      } catch (...) {
        GUESTDUMP_LOG(kError, "daemon")
            << "after the job of '" << job.name << "': unexpected error";
      }
      lock.lock();
    }
    idle_cv_.notify_all();
    cv_.notify_all();
  }
}

bool CrashMark::same_crash(const CrashMark& other, std::uint64_t slack_ns) const {
  if (domain_id != other.domain_id) return false;
  if (!vcpu_time_ns || !other.vcpu_time_ns) return true;
  const std::uint64_t a = *vcpu_time_ns, b = *other.vcpu_time_ns;
  return (a > b ? a - b : b - a) <= slack_ns;
}

bool CrashTracker::claim(const std::string& guest, const CrashMark& mark) {
  std::lock_guard lock(mu_);
  auto it = claimed_.find(guest);
  if (it != claimed_.end() && it->second.same_crash(mark)) return false;
  claimed_[guest] = mark;
  return true;
}

void CrashTracker::running_again(const std::string& guest) {
  std::lock_guard lock(mu_);
  claimed_.erase(guest);
}

void CrashTracker::release(const std::string& guest, const CrashMark& mark) {
  std::lock_guard lock(mu_);
  auto it = claimed_.find(guest);
  if (it != claimed_.end() && it->second.same_crash(mark, 0)) claimed_.erase(it);
}

void CrashTracker::seed(const std::string& guest, const CrashMark& mark) {
  std::lock_guard lock(mu_);
  claimed_.emplace(guest, mark);
}

bool CrashTracker::claimed(const std::string& guest) const {
  std::lock_guard lock(mu_);
  return claimed_.count(guest) != 0;
}

} // namespace guestdump::host
