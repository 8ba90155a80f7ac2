// Dump job queue: concurrency limit, per-guest de-duplication, close/drain; crash tracker:
// one crash -> one claim, a new life -> a new claim.

#include "guestdump/host/job_queue.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include <gtest/gtest.h>

namespace guestdump::host {
namespace {

using namespace std::chrono_literals;

// Jobs that block until the test releases them, counting how many run at once.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int running = 0;
  int max_running = 0;
  int done = 0;
  std::vector<std::string> order;

  void run(const DumpJob& job) {
    std::unique_lock lock(mu);
    ++running;
    max_running = std::max(max_running, running);
    order.push_back(job.name);
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    --running;
    ++done;
    cv.notify_all();
  }
  void wait_running(int n) {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return running == n; })) << running;
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

DumpJob job(const std::string& name, const std::string& uuid = {}) {
  return DumpJob{
      "qemu:///system", name, uuid.empty() ? "uuid-" + name : uuid, policies::Trigger::kPanic, {}};
}

TEST(JobQueue, AJobThatThrowsEndsNeitherItsWorkerNorOthers) {
  std::atomic<int> done{0};
  JobQueue q(1, [&](const DumpJob& j) {
    if (j.name == "hostile") throw std::runtime_error("invalid UTF-8 in meta.json");
    ++done;
  });
  EXPECT_EQ(q.submit(job("hostile")), JobQueue::Admit::kQueued);
  EXPECT_EQ(q.submit(job("honest")), JobQueue::Admit::kQueued);
  ASSERT_TRUE(q.wait_idle(std::chrono::steady_clock::now() + 10s));
  EXPECT_EQ(done.load(), 1);
  // The hostile guest's slot is free again: a later crash of it is queued, not a duplicate.
  EXPECT_FALSE(q.busy("qemu:///system", "uuid-hostile"));
  EXPECT_EQ(q.submit(job("hostile")), JobQueue::Admit::kQueued);
  ASSERT_TRUE(q.wait_idle(std::chrono::steady_clock::now() + 10s));
}

TEST(JobQueue, RespectsTheConcurrencyLimit) {
  Gate gate;
  JobQueue q(2, [&](const DumpJob& j) { gate.run(j); });
  for (const char* n : {"a", "b", "c", "d"}) EXPECT_EQ(q.submit(job(n)), JobQueue::Admit::kQueued);
  gate.wait_running(2);
  EXPECT_EQ(q.running(), 2u);
  EXPECT_EQ(q.queued(), 2u);
  gate.release();
  ASSERT_TRUE(q.wait_idle(std::chrono::steady_clock::now() + 10s));
  EXPECT_EQ(gate.done, 4);
  EXPECT_EQ(gate.max_running, 2);
}

TEST(JobQueue, OneJobPerGuestAtATime) {
  Gate gate;
  JobQueue q(1, [&](const DumpJob& j) { gate.run(j); });
  EXPECT_EQ(q.submit(job("web1")), JobQueue::Admit::kQueued);
  gate.wait_running(1);
  // The same guest again (a second event for the same crash): refused while running.
  EXPECT_EQ(q.submit(job("web1")), JobQueue::Admit::kDuplicate);
  EXPECT_TRUE(q.busy("qemu:///system", "uuid-web1"));
  // Same UUID on another URI is another guest.
  DumpJob other = job("web1");
  other.uri = "qemu+ssh://hv2/system";
  EXPECT_EQ(q.submit(other), JobQueue::Admit::kQueued);
  EXPECT_EQ(q.submit(other), JobQueue::Admit::kDuplicate);
  gate.release();
  ASSERT_TRUE(q.wait_idle(std::chrono::steady_clock::now() + 10s));
  EXPECT_FALSE(q.busy("qemu:///system", "uuid-web1"));
  // Once finished, the guest may be queued again (a later crash).
  EXPECT_EQ(q.submit(job("web1")), JobQueue::Admit::kQueued);
  ASSERT_TRUE(q.wait_idle(std::chrono::steady_clock::now() + 10s));
  EXPECT_EQ(gate.done, 3);
}

TEST(JobQueue, CloseDropsQueuedJobsAndLetsRunningOnesFinish) {
  Gate gate;
  JobQueue q(1, [&](const DumpJob& j) { gate.run(j); });
  ASSERT_EQ(q.submit(job("a")), JobQueue::Admit::kQueued);
  gate.wait_running(1);
  ASSERT_EQ(q.submit(job("b")), JobQueue::Admit::kQueued);
  std::vector<DumpJob> dropped = q.close();
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].name, "b");
  EXPECT_EQ(q.submit(job("c")), JobQueue::Admit::kStopped);
  EXPECT_FALSE(q.wait_idle(std::chrono::steady_clock::now() + 50ms)); // "a" still runs
  gate.release();
  q.join();
  EXPECT_EQ(gate.done, 1);
  EXPECT_EQ(gate.order, std::vector<std::string>{"a"});
}

TEST(JobQueue, RaisingTheLimitStartsWaitingJobs) {
  Gate gate;
  JobQueue q(1, [&](const DumpJob& j) { gate.run(j); });
  ASSERT_EQ(q.submit(job("a")), JobQueue::Admit::kQueued);
  ASSERT_EQ(q.submit(job("b")), JobQueue::Admit::kQueued);
  gate.wait_running(1);
  q.set_workers(2);
  gate.wait_running(2);
  gate.release();
  ASSERT_TRUE(q.wait_idle(std::chrono::steady_clock::now() + 10s));
}

TEST(CrashMark, SameCrash) {
  CrashMark a{7, 5'000'000'000};
  EXPECT_TRUE(a.same_crash({7, 5'000'000'000}));
  EXPECT_TRUE(a.same_crash({7, 5'400'000'000}));  // within a second of jitter
  EXPECT_FALSE(a.same_crash({7, 9'000'000'000})); // ran again in between
  EXPECT_FALSE(a.same_crash({8, 5'000'000'000})); // new QEMU process
  EXPECT_TRUE(a.same_crash({7, std::nullopt}));   // unknown time: the id decides
}

TEST(CrashTracker, OneCrashOneClaim) {
  CrashTracker t;
  const std::string g = "qemu:///system 1234";
  CrashMark m{3, 10'000'000'000};
  EXPECT_TRUE(t.claim(g, m));
  // SUSPENDED/PAUSED then CRASHED/PANICKED, then a reconcile after a reconnect: same crash.
  EXPECT_FALSE(t.claim(g, m));
  EXPECT_FALSE(t.claim(g, {3, 10'000'100'000}));
  // Reset and crashed again while we were disconnected: more vCPU time, a new crash.
  EXPECT_TRUE(t.claim(g, {3, 25'000'000'000}));
  // Running again clears the claim.
  t.running_again(g);
  EXPECT_FALSE(t.claimed(g));
  EXPECT_TRUE(t.claim(g, {4, 1'000'000'000}));
  // Released after a refusal (no space): a later look may claim it again.
  t.release(g, {4, 1'000'000'000});
  EXPECT_TRUE(t.claim(g, {4, 1'000'000'000}));
}

TEST(CrashTracker, SeededFromTheStore) {
  CrashTracker t;
  const std::string g = "qemu:///system abcd";
  t.seed(g, {5, 2'000'000'000});
  EXPECT_FALSE(t.claim(g, {5, 2'000'000'000})); // dumped by the previous daemon
  EXPECT_TRUE(t.claim("qemu:///system other", {5, 2'000'000'000}));
}

} // namespace
} // namespace guestdump::host
