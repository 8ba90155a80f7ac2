// See upload_queue.h.

#include "guestdump/host/upload_queue.h"

#include <algorithm>
#include <exception>

#include "guestdump/policies/upload.h"

namespace guestdump::host {

UploadQueue::UploadQueue(unsigned workers, Uploader upload, Reporter report,
                         std::chrono::milliseconds retry_base, std::chrono::milliseconds retry_cap)
    : upload_(std::move(upload)), report_(std::move(report)), retry_base_(retry_base),
      retry_cap_(retry_cap) {
  for (unsigned i = 0; i < std::max(1u, workers); ++i) {
    threads_.emplace_back([this] { worker_main(); });
  }
}

UploadQueue::~UploadQueue() {
  stop();
}

bool UploadQueue::enqueue(const std::string& dir) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || running_.count(dir) != 0 ||
        std::find(queue_.begin(), queue_.end(), dir) != queue_.end()) {
      return false;
    }
    if (auto it = waiting_.find(dir); it != waiting_.end()) {
      // Asked for again (a reload, a reconnect): the wait is over, the failure count stays.
      failed_[dir] = it->second.failures;
      waiting_.erase(it);
    }
    queue_.push_back(dir);
  }
  cv_.notify_one();
  return true;
}

std::size_t UploadQueue::backlog() const {
  std::lock_guard lock(mu_);
  return queue_.size() + running_.size() + waiting_.size();
}

std::size_t UploadQueue::running() const {
  std::lock_guard lock(mu_);
  return running_.size();
}

bool UploadQueue::pending(const std::string& dir) const {
  std::lock_guard lock(mu_);
  return running_.count(dir) != 0 || waiting_.count(dir) != 0 ||
         std::find(queue_.begin(), queue_.end(), dir) != queue_.end();
}

void UploadQueue::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
    waiting_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void UploadQueue::worker_main() {
  const std::function<bool()> cancelled = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return;
    // Retries whose time has come join the queue's tail.
    const auto now = std::chrono::steady_clock::now();
    auto next_due = std::chrono::steady_clock::time_point::max();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.due <= now) {
        failed_[it->first] = it->second.failures;
        queue_.push_back(it->first);
        it = waiting_.erase(it);
      } else {
        next_due = std::min(next_due, it->second.due);
        ++it;
      }
    }
    if (queue_.empty()) {
      if (next_due == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next_due);
      }
      continue;
    }
    const std::string dir = queue_.front();
    queue_.pop_front();
    running_.insert(dir);
    std::uint32_t failures = failed_[dir];
    failed_.erase(dir);
    lock.unlock();

    UploadEnd end;
    end.dir = dir;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      end.result = upload_(dir, cancelled);
    } catch (const std::exception& e) {
      end.result = make_error(ErrorCode::kOs, "upload of '" + dir + "': " + e.what());
    } catch (...) {
      end.result = make_error(ErrorCode::kOs, "upload of '" + dir + "': unknown exception");
    }
    end.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool retry = !end.result && end.result.error().code != ErrorCode::kCancelled &&
                       end.result.error().code != ErrorCode::kNotFound;
    if (!end.result) {
      end.failures = failures + 1;
      if (retry) {
        end.retry_in = std::chrono::duration_cast<std::chrono::milliseconds>(
            policies::upload_retry_delay(end.failures, retry_base_, retry_cap_));
      }
    }
    lock.lock();
    running_.erase(dir);
    if (retry && !stopping_) {
      waiting_[dir] = {std::chrono::steady_clock::now() + end.retry_in, end.failures};
      cv_.notify_all(); // an idle thread may have to wake for this one's due time
    }
    // Reported once the queue's state is settled, so the report (and anyone it wakes) sees the
    // directory no longer running and, if it failed, waiting for its retry.
    if (report_) {
      lock.unlock();
      try {
        report_(end);
      } catch (...) {
        // The report only logs and counts; an upload thread must survive it.
      }
      lock.lock();
    }
  }
}

} // namespace guestdump::host
