// The hang sampler: every interval, domain states, vCPU time and agent pings of the watched
// guests feed their hang detectors.

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>

#include "daemon_internal.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/formats/codec.h"
#include "guestdump/host/daemon.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/policies/free_space.h"
#include "guestdump/policies/retention.h"
#include "guestdump/policies/selection.h"
#include "guestdump/store/retention.h"

namespace guestdump::host {

using namespace daemon_detail;

void Daemon::sampler_main() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(hang_mu_);
  for (;;) {
    auto cfg = config();
    const bool on = cfg->policy.hang.timeout.count() > 0;
    if (on) {
      next += cfg->policy.hang.interval;
      const auto now = std::chrono::steady_clock::now();
      if (next < now) next = now; // we fell behind (a slow sample): do not burst
      sampler_cv_.wait_until(lock, next, [&] { return sampler_stop_; });
    } else {
      // Off: wait for a reload that turns it on, or stop (both notify; the predicate catches
      // a notification sent before this thread got here).
      sampler_cv_.wait(lock,
                       [&] { return sampler_stop_ || config()->policy.hang.timeout.count() > 0; });
      next = std::chrono::steady_clock::now();
    }
    if (sampler_stop_) return;
    if (!on || config()->policy.hang.timeout.count() == 0) continue;
    lock.unlock();
    {
      BusyMark busy(sampler_busy_since_);
      sample_once();
    }
    lock.lock();
  }
}

void Daemon::sample_once() {
  auto cfg = config();
  const int ping_timeout = static_cast<int>(std::clamp<std::int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(cfg->policy.hang.interval).count() / 2, 1,
      5));
  // Pings of every guest run at once on their own pool, so one silent agent (each costs
  // libvirt's 5 s re-sync) does not hold up the samples of the others; a ping that has not
  // answered by the deadline is no evidence either way (kUnknown).
  struct Pings {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, policies::AgentStatus> results;
    std::size_t pending = 0;
  };
  for (const auto& w : watchers_) {
    if (!w->connected()) continue;
    auto doms = w->domains(true);
    if (!doms) continue;
    auto pings = std::make_shared<Pings>();
    std::vector<std::pair<const DomainStatus*, policies::HangSample>> samples;
    std::size_t watched_count = 0;
    for (const DomainStatus& s : *doms) {
      if (!watched(s, false)) continue;
      ++watched_count;
      if (s.id < 0) continue;
      policies::HangSample sample;
      sample.lifecycle = lifecycle_of(s);
      sample.job_active = s.job_active || jobs_->busy(w->uri(), s.uuid);
      sample.vcpu_time_ns = s.vcpu_time_ns;
      sample.vcpus = s.vcpus;
      sample.agent = policies::AgentStatus::kUnknown;
      if (sample.lifecycle == policies::Lifecycle::kRunning && !sample.job_active) {
        if (!s.has_agent_channel) {
          sample.agent = policies::AgentStatus::kNotInstalled;
        } else {
          const Hypervisor* watcher = w.get();
          const std::string uuid = s.uuid;
          {
            std::lock_guard lock(pings->mu);
            ++pings->pending;
          }
          const auto admit = agent_pings_->submit(
              guest_key(w->uri(), uuid), "ping", [pings, watcher, uuid, ping_timeout] {
                policies::AgentStatus st = policies::AgentStatus::kUnknown;
                if (auto p = watcher->ping_agent(uuid, ping_timeout)) st = agent_status_of(*p);
                std::lock_guard lock(pings->mu);
                pings->results[uuid] = st;
                --pings->pending;
                pings->cv.notify_all();
              });
          if (admit != GuestCalls::Admit::kQueued) {
            std::lock_guard lock(pings->mu);
            --pings->pending;
          }
        }
      }
      samples.emplace_back(&s, sample);
    }
    set_watched_count(w->uri(), watched_count);
    {
      std::unique_lock lock(pings->mu);
      pings->cv.wait_for(lock, std::chrono::seconds(ping_timeout + 7),
                         [&] { return pings->pending == 0; });
      for (auto& [s, sample] : samples) {
        if (auto it = pings->results.find(s->uuid); it != pings->results.end()) {
          sample.agent = it->second;
        }
      }
    }
    for (auto& [sp, sample_ref] : samples) {
      const DomainStatus& s = *sp;
      policies::HangSample sample = sample_ref;
      sample.at = mono_now();
      policies::HangDecision d;
      policies::HangState before;
      bool proven_before = false;
      bool proven_after = false;
      {
        std::lock_guard lock(hang_mu_);
        auto& det = detector(guest_key(w->uri(), s.uuid), s);
        before = det.state();
        proven_before = det.agent_proven();
        d = det.on_sample(sample);
        proven_after = det.agent_proven();
      }
      if (proven_after != proven_before) {
        GUESTDUMP_LOG(kInfo, kLog)
            << "'" << s.name << "': "
            << (proven_after ? "guest agent answers; its silence now counts as hang evidence"
                             : "guest agent gone or restarted; it must answer again before its "
                               "silence counts");
      }
      if (d.state != before) {
        GUESTDUMP_LOG(kDebug, kLog)
            << "'" << s.name << "' hang state " << policies::to_string(before) << " -> "
            << policies::to_string(d.state) << ": " << d.reason;
      }
      act_on_hang(*w, s, d, policies::Trigger::kHang);
    }
  }
}

} // namespace guestdump::host
