// Slow per-guest calls off the event thread; see guest_calls.h.

#include "guestdump/host/guest_calls.h"

#include <exception>

#include "guestdump/common/log.h"

namespace guestdump::host {

GuestCalls::GuestCalls(unsigned workers, std::size_t max_queued,
                       std::chrono::milliseconds min_interval)
    : max_queued_(max_queued), min_interval_(min_interval) {
  if (workers == 0) workers = 1;
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_main(); });
}

GuestCalls::~GuestCalls() {
  stop();
}

GuestCalls::Admit GuestCalls::submit(const std::string& guest, const std::string& kind,
                                     std::function<void()> call) {
  std::string key = guest + '\n' + kind;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return Admit::kStopped;
    if (queued_keys_.count(key) != 0) return Admit::kCoalesced;
    if (auto it = last_start_.find(key);
        it != last_start_.end() && std::chrono::steady_clock::now() - it->second < min_interval_) {
      return Admit::kRateLimited;
    }
    if (queue_.size() >= max_queued_) return Admit::kQueueFull;
    queued_keys_[key] = true;
    queue_.push_back(Call{std::move(key), std::move(call)});
  }
  cv_.notify_one();
  return Admit::kQueued;
}

void GuestCalls::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    queue_.clear();
    queued_keys_.clear();
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

std::size_t GuestCalls::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void GuestCalls::worker_main() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
    if (stopped_) return;
    Call call = std::move(queue_.front());
    queue_.pop_front();
    queued_keys_.erase(call.key);
    last_start_[call.key] = std::chrono::steady_clock::now();
    // Forget guests that have been quiet for a while, so the map stays as large as the
    // number of guests that are actually busy.
    if (last_start_.size() > 4 * max_queued_ + 64) {
      const auto cutoff = std::chrono::steady_clock::now() - min_interval_;
      std::erase_if(last_start_, [&](const auto& kv) { return kv.second < cutoff; });
    }
    lock.unlock();
    try {
      call.run();
    } catch (const std::exception& e) {
      GUESTDUMP_LOG(kError, "daemon") << "guest call ended by an unexpected error: " << e.what();
    } catch (...) {
      GUESTDUMP_LOG(kError, "daemon") << "guest call ended by an unexpected error";
    }
    lock.lock();
  }
}

const char* to_string(GuestCalls::Admit admit) {
  switch (admit) {
  case GuestCalls::Admit::kQueued:
    return "queued";
  case GuestCalls::Admit::kCoalesced:
    return "already queued";
  case GuestCalls::Admit::kRateLimited:
    return "rate-limited";
  case GuestCalls::Admit::kQueueFull:
    return "queue full";
  case GuestCalls::Admit::kStopped:
    return "stopping";
  }
  return "?";
}

} // namespace guestdump::host
