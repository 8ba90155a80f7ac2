// The upload queue: one entry per directory, bounded concurrency, retries after doubling delays,
// no retry for a vanished directory, and stop() cancelling a running upload.

#include "guestdump/host/upload_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace guestdump::host {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records attempts and ends; uploads succeed unless `fail_first` says otherwise.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> attempts;
  std::vector<Clock::time_point> times;
  std::vector<UploadEnd> ends;
  std::map<std::string, int> fail_first; // dir -> attempts that fail
  int running = 0;
  int max_running = 0;
  std::chrono::milliseconds hold{0};

  Result<UploadDone> upload(const std::string& dir, const std::function<bool()>&) {
    {
      std::lock_guard lock(mu);
      attempts.push_back(dir);
      times.push_back(Clock::now());
      max_running = std::max(max_running, ++running);
    }
    std::this_thread::sleep_for(hold);
    std::lock_guard lock(mu);
    --running;
    if (fail_first[dir]-- > 0) return make_error(ErrorCode::kOs, "HTTP 503 SlowDown");
    return UploadDone{"s3://b/" + dir + "/", 10};
  }
  void ended(const UploadEnd& e) {
    std::lock_guard lock(mu);
    ends.push_back(e);
    cv.notify_all();
  }
  bool wait_ends(std::size_t n, std::chrono::milliseconds t = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, t, [&] { return ends.size() >= n; });
  }
};

std::unique_ptr<UploadQueue> make_queue(Recorder& r, unsigned workers,
                                        std::chrono::milliseconds base = 50ms) {
  return std::make_unique<UploadQueue>(
      workers,
      [&r](const std::string& d, const std::function<bool()>& c) { return r.upload(d, c); },
      [&r](const UploadEnd& e) { r.ended(e); }, base, 400ms);
}

TEST(UploadQueue, EachDirectoryOnceAtATime) {
  Recorder r;
  r.hold = 100ms;
  auto q = make_queue(r, 1);
  EXPECT_TRUE(q->enqueue("a"));
  EXPECT_TRUE(q->enqueue("b"));
  EXPECT_FALSE(q->enqueue("a")); // queued or running already
  EXPECT_FALSE(q->enqueue("b"));
  EXPECT_TRUE(q->pending("b"));
  ASSERT_TRUE(r.wait_ends(2));
  EXPECT_EQ(r.attempts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q->backlog(), 0u);
  EXPECT_FALSE(q->pending("a"));
  EXPECT_TRUE(q->enqueue("a")); // done: may be queued again
  ASSERT_TRUE(r.wait_ends(3));
}

TEST(UploadQueue, ConcurrencyIsBounded) {
  Recorder r;
  r.hold = 50ms;
  auto q = make_queue(r, 2);
  for (const char* d : {"a", "b", "c", "d", "e", "f"}) q->enqueue(d);
  ASSERT_TRUE(r.wait_ends(6));
  EXPECT_EQ(r.max_running, 2);
}

TEST(UploadQueue, FailuresAreRetriedAfterDoublingDelays) {
  Recorder r;
  r.fail_first["a"] = 3;
  auto q = make_queue(r, 1, 100ms);
  q->enqueue("a");
  ASSERT_TRUE(r.wait_ends(4));
  std::lock_guard lock(r.mu);
  ASSERT_EQ(r.attempts.size(), 4u);
  EXPECT_FALSE(r.ends[0].result);
  EXPECT_EQ(r.ends[0].failures, 1u);
  EXPECT_EQ(r.ends[0].retry_in, 100ms);
  EXPECT_EQ(r.ends[1].retry_in, 200ms);
  EXPECT_EQ(r.ends[2].retry_in, 400ms); // the cap
  EXPECT_TRUE(r.ends[3].result);
  // Not a tight loop: each attempt waited its delay.
  EXPECT_GE(r.times[1] - r.times[0], 100ms);
  EXPECT_GE(r.times[2] - r.times[1], 200ms);
  EXPECT_GE(r.times[3] - r.times[2], 400ms);
}

TEST(UploadQueue, WaitingRetryCountsInTheBacklogAndAnotherDirectoryGoesOn) {
  Recorder r;
  r.fail_first["a"] = 1;
  auto q = make_queue(r, 1, 1h); // "a" waits an hour after its failure
  q->enqueue("a");
  ASSERT_TRUE(r.wait_ends(1));
  q->enqueue("b");
  ASSERT_TRUE(r.wait_ends(2));
  EXPECT_EQ(r.ends[1].dir, "b");
  EXPECT_EQ(q->backlog(), 1u);
  EXPECT_TRUE(q->pending("a"));
  // Queued again (a reload): tried now, not in an hour.
  EXPECT_TRUE(q->enqueue("a"));
  ASSERT_TRUE(r.wait_ends(3));
  EXPECT_TRUE(r.ends[2].result);
  EXPECT_EQ(q->backlog(), 0u);
}

TEST(UploadQueue, VanishedDirectoryIsNotRetried) {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<UploadEnd> ends;
  UploadQueue q(
      1,
      [&](const std::string& d, const std::function<bool()>&) -> Result<UploadDone> {
        ++calls;
        return make_error(ErrorCode::kNotFound, "dump '" + d + "' is gone");
      },
      [&](const UploadEnd& e) {
        std::lock_guard lock(mu);
        ends.push_back(e);
        cv.notify_all();
      },
      10ms, 10ms);
  q.enqueue("a");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return !ends.empty(); }));
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(ends[0].retry_in, 0ms);
  EXPECT_EQ(q.backlog(), 0u);
}

TEST(UploadQueue, StopCancelsTheRunningUploadAndDropsTheRest) {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  std::vector<UploadEnd> ends;
  auto q = std::make_unique<UploadQueue>(
      1,
      [&](const std::string&, const std::function<bool()>& cancelled) -> Result<UploadDone> {
        {
          std::lock_guard lock(mu);
          started = true;
          cv.notify_all();
        }
        while (!cancelled()) std::this_thread::sleep_for(5ms);
        return make_error(ErrorCode::kCancelled, "cancelled");
      },
      [&](const UploadEnd& e) {
        std::lock_guard lock(mu);
        ends.push_back(e);
      });
  q->enqueue("a");
  q->enqueue("b");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return started; }));
  }
  const auto t0 = Clock::now();
  q->stop();
  EXPECT_LT(Clock::now() - t0, 2s);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].dir, "a");
  EXPECT_EQ(ends[0].result.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(ends[0].retry_in, 0ms);
  EXPECT_FALSE(q->enqueue("c"));
  EXPECT_EQ(q->backlog(), 0u);
}

} // namespace
} // namespace guestdump::host
