// Slow guest calls run off the event thread, bounded, coalesced and rate-limited per guest.

#include "guestdump/host/guest_calls.h"

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace guestdump::host {
namespace {

using namespace std::chrono_literals;
using Admit = GuestCalls::Admit;

TEST(GuestCalls, SilentGuestDoesNotDelayAnother) {
  GuestCalls calls(2, 16, 0ms);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // guest A's agent never answers (until the test lets it go).
  ASSERT_EQ(calls.submit("A", "vmcoreinfo", [released] { released.wait(); }), Admit::kQueued);
  std::promise<void> b_done;
  auto b = b_done.get_future();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(calls.submit("B", "vmcoreinfo", [&] { b_done.set_value(); }), Admit::kQueued);
  EXPECT_EQ(b.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  release.set_value();
}

TEST(GuestCalls, CoalescesRateLimitsAndBounds) {
  GuestCalls calls(1, 3, 1h);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> runs{0};
  std::promise<void> started;
  ASSERT_EQ(calls.submit("busy", "q",
                         [&, released] {
                           started.set_value();
                           released.wait();
                         }),
            Admit::kQueued);
  started.get_future().wait();
  // The one worker is held: what follows queues.
  EXPECT_EQ(calls.submit("g1", "q", [&] { ++runs; }), Admit::kQueued);
  EXPECT_EQ(calls.submit("g1", "q", [&] { ++runs; }), Admit::kCoalesced);
  EXPECT_EQ(calls.submit("g1", "other", [&] { ++runs; }), Admit::kQueued);
  EXPECT_EQ(calls.submit("g2", "q", [&] { ++runs; }), Admit::kQueued);
  EXPECT_EQ(calls.submit("g3", "q", [&] { ++runs; }), Admit::kQueueFull);
  EXPECT_EQ(calls.queued(), 3u);
  // The guest that just ran is rate-limited for min_interval.
  EXPECT_EQ(calls.submit("busy", "q", [&] { ++runs; }), Admit::kRateLimited);
  release.set_value();
  for (int i = 0; i < 500 && runs.load() < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(runs.load(), 3);
  EXPECT_EQ(calls.submit("g1", "q", [&] { ++runs; }), Admit::kRateLimited);
  calls.stop();
  EXPECT_EQ(calls.submit("g4", "q", [&] { ++runs; }), Admit::kStopped);
}

TEST(GuestCalls, ACallThatThrowsDoesNotEndTheWorker) {
  GuestCalls calls(1, 4, 0ms);
  ASSERT_EQ(calls.submit("hostile", "q", [] { throw std::runtime_error("bad reply"); }),
            Admit::kQueued);
  std::promise<void> done;
  auto f = done.get_future();
  ASSERT_EQ(calls.submit("honest", "q", [&] { done.set_value(); }), Admit::kQueued);
  EXPECT_EQ(f.wait_for(5s), std::future_status::ready);
}

} // namespace
} // namespace guestdump::host
