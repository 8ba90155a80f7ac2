#pragma once
// Slow calls about one guest (guest-agent queries) run here, never on the daemon's event
// thread: a guest whose agent is silent or noisy must not delay another guest's panic dump.
// A fixed pool of workers drains a bounded queue; a guest gets at most one queued call of each
// kind and at most one call of each kind per `min_interval`. submit() never blocks.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace guestdump::host {

class GuestCalls {
public:
  enum class Admit {
    kQueued,
    kCoalesced,   // the same guest and kind is already queued
    kRateLimited, // the same guest and kind ran less than min_interval ago
    kQueueFull,   // max_queued calls are waiting
    kStopped,
  };

  GuestCalls(unsigned workers, std::size_t max_queued, std::chrono::milliseconds min_interval);
  ~GuestCalls();
  GuestCalls(const GuestCalls&) = delete;
  GuestCalls& operator=(const GuestCalls&) = delete;

  /// Queues `call` for `guest`; `kind` names the sort of call for coalescing and rate limits.
  /// A call that throws is caught and dropped: one guest's reply cannot end a worker.
  Admit submit(const std::string& guest, const std::string& kind, std::function<void()> call);
  /// Drops what is queued and joins the workers (a running call is waited for).
  void stop();
  std::size_t queued() const;

private:
  struct Call {
    std::string key; // guest + '\n' + kind
    std::function<void()> run;
  };
  void worker_main();

  const std::size_t max_queued_;
  const std::chrono::milliseconds min_interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Call> queue_;
  std::map<std::string, bool> queued_keys_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_start_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

const char* to_string(GuestCalls::Admit admit);

} // namespace guestdump::host
