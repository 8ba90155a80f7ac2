// The dispatcher: hypervisor events in, triggers out. Applies selection, de-duplication and the
// crash-loop limit, and queues dump jobs.

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>

#include "daemon_internal.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/formats/codec.h"
#include "guestdump/host/daemon.h"
#include "guestdump/host/daemon_events.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/policies/free_space.h"
#include "guestdump/policies/retention.h"
#include "guestdump/policies/selection.h"
#include "guestdump/store/retention.h"

namespace guestdump::host {

using namespace daemon_detail;

void Daemon::on_event(WatchEvent event) {
  {
    std::lock_guard lock(events_mu_);
    if (stopping_) return;
    if (events_.size() >= kMaxQueuedEvents) {
      // A flood (one guest rebooting in a loop, say) must not grow memory without bound. The
      // dropped event's connection is reconciled once the queue drains: a panic is still seen.
      if (resync_.insert(event.uri).second) {
        GUESTDUMP_LOG(kWarn, kLog) << event.uri << ": " << kMaxQueuedEvents
                                   << " events queued; dropping events and reconciling later";
      }
      return;
    }
    events_.push_back(std::move(event));
  }
  events_cv_.notify_one();
}

void Daemon::dispatcher_main() {
  std::unique_lock lock(events_mu_);
  for (;;) {
    events_cv_.wait(lock, [&] { return stopping_ || !events_.empty() || !resync_.empty(); });
    if (stopping_) return;
    if (events_.empty()) {
      const std::string uri = *resync_.begin();
      resync_.erase(resync_.begin());
      lock.unlock();
      {
        BusyMark busy(dispatcher_busy_since_);
        guarded("reconcile after dropped events", [&] { reconcile(uri); });
      }
      lock.lock();
      continue;
    }
    WatchEvent e = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    {
      BusyMark busy(dispatcher_busy_since_);
      guarded("event", [&] { handle(e); });
    }
    lock.lock();
  }
}

void Daemon::handle(const WatchEvent& e) {
  GUESTDUMP_LOG(kDebug, kLog) << e.uri << ": event " << to_string(e.kind)
                              << (e.name.empty() ? "" : " '" + e.name + "'");
  using K = WatchEventKind;
  if (e.kind == K::kConnected) {
    reconcile(e.uri);
    queue_pending_uploads("reconnect");
    return;
  }
  if (e.kind == K::kDisconnected) return;
  const Hypervisor* w = watcher(e.uri);
  if (w == nullptr) return;
  const std::string key = guest_key(e.uri, e.uuid);
  switch (e.kind) {
  case K::kStarted:
  case K::kStopped:
  case K::kUndefined: {
    std::optional<DomainStatus> kept;
    if (e.kind == K::kStopped && e.crashed) {
      // Xen (libxl) reports a crash this way even when on_crash is preserve, and keeps the
      // domain and its memory (status_of() then calls it panicked): the same life, crashed.
      if (auto st = w->domain(e.uuid, true); st && st->panicked) kept = std::move(*st);
    }
    if (!kept && !jobs_->busy(e.uri, e.uuid)) tracker_.running_again(key);
    {
      std::lock_guard lock(hang_mu_);
      detectors_.erase(key);
      vmcoreinfo_pa_.erase(key);
    }
    if (kept) {
      consider_dump(*w, *kept, policies::Trigger::kPanic);
    } else if (e.kind == K::kStopped && e.crashed) {
      GUESTDUMP_LOG(kWarn, kLog) << "'" << e.name << "' crashed and was stopped by libvirt "
                                 << "(on_crash is not preserve): nothing left to dump";
    }
    return;
  }
  case K::kResumed:
  case K::kReboot: {
    // A dump of a running guest pauses and resumes it: that is not a new life.
    if (!jobs_->busy(e.uri, e.uuid)) tracker_.running_again(key);
    if (e.kind == K::kReboot) {
      std::lock_guard lock(hang_mu_);
      vmcoreinfo_pa_.erase(key);
      auto it = detectors_.find(key);
      if (it != detectors_.end()) (void)it->second->on_event(policies::GuestEvent::kReboot);
    }
    return;
  }
  case K::kAgentConnected: {
    // A healthy guest's agent: remember where its kernel keeps VMCOREINFO for this boot. The
    // agent may take seconds or never answer, so the query runs off this thread.
    const auto admit = guest_calls_->submit(key, "vmcoreinfo", [this, w, e, key] {
      auto pa = w->read_vmcoreinfo_address(e.uuid, 5);
      if (!pa) {
        GUESTDUMP_LOG(kDebug, kLog) << "no VMCOREINFO address: " << pa.error().message;
        return;
      }
      GUESTDUMP_LOG(kDebug, kLog) << "'" << e.name << "' keeps VMCOREINFO at PA 0x" << std::hex
                                  << *pa << std::dec << " (guest agent)";
      std::lock_guard lock(hang_mu_);
      vmcoreinfo_pa_[key] = *pa;
    });
    if (admit != GuestCalls::Admit::kQueued) {
      GUESTDUMP_LOG(kDebug, kLog) << "'" << e.name << "': agent query not made ("
                                  << to_string(admit) << ")";
    }
    return;
  }
  case K::kAgentDisconnected:
  case K::kShutdown:
    return; // the sampler sees these in its next sample
  default:
    break;
  }
  auto st = w->domain(e.uuid, true);
  if (!st) {
    GUESTDUMP_LOG(kWarn, kLog) << "event " << to_string(e.kind) << " for '" << e.name
                               << "': " << st.error().message;
    return;
  }
  if (e.kind == K::kRecheck) {
    policies::Trigger trigger;
    {
      std::lock_guard lock(recheck_mu_);
      auto it = recheck_.find(key);
      if (it == recheck_.end()) return;
      trigger = it->second;
      recheck_.erase(it);
    }
    if (st->panicked || st->watchdog || st->state == DomainRunState::kCrashed) {
      consider_dump(*w, *st,
                    st->panicked   ? policies::Trigger::kPanic
                    : st->watchdog ? policies::Trigger::kWatchdog
                                   : trigger);
    } else {
      GUESTDUMP_LOG(kInfo, kLog) << "'" << e.name << "' is " << to_string(st->state)
                                 << " again: the " << policies::to_string(trigger)
                                 << " seen during its last dump "
                                 << "is not dumped";
    }
    return;
  }
  switch (e.kind) {
  case K::kPanicked:
  case K::kSuspended:
    if (st->panicked) {
      {
        std::lock_guard lock(hang_mu_);
        auto it = detectors_.find(key);
        if (it != detectors_.end()) (void)it->second->on_event(policies::GuestEvent::kPanicked);
      }
      consider_dump(*w, *st, policies::Trigger::kPanic);
    } else if (st->watchdog) {
      WatchEvent we = e;
      we.kind = K::kWatchdog;
      handle(we);
    } else if (e.kind == K::kPanicked) {
      GUESTDUMP_LOG(kWarn, kLog) << "'" << e.name << "' panicked but is now "
                                 << to_string(st->state) << "; not dumped";
    }
    return;
  case K::kCrashLoaded: {
    {
      std::lock_guard lock(hang_mu_);
      auto it = detectors_.find(key);
      if (it != detectors_.end()) (void)it->second->on_event(policies::GuestEvent::kCrashLoaded);
    }
    consider_dump(*w, *st, policies::Trigger::kCrashLoaded);
    return;
  }
  case K::kWatchdog: {
    if (!watched(*st, true)) return;
    policies::HangDecision d;
    {
      std::lock_guard lock(hang_mu_);
      d = detector(key, *st).on_event(policies::GuestEvent::kWatchdog);
    }
    act_on_hang(*w, *st, d, policies::Trigger::kWatchdog);
    return;
  }
  default:
    return;
  }
}

void Daemon::reconcile(const std::string& uri) {
  const Hypervisor* w = watcher(uri);
  if (w == nullptr) return;
  auto doms = w->domains(true);
  if (!doms) {
    GUESTDUMP_LOG(kWarn, kLog) << "reconcile " << uri << ": " << doms.error().message;
    return;
  }
  std::size_t crashed = 0;
  std::size_t watched_count = 0;
  for (const DomainStatus& s : *doms) {
    if (watched(s, false)) ++watched_count;
    const std::string key = guest_key(uri, s.uuid);
    if (s.panicked) {
      ++crashed;
      consider_dump(*w, s, policies::Trigger::kPanic);
    } else if (s.watchdog) {
      ++crashed;
      WatchEvent e;
      e.uri = uri;
      e.kind = WatchEventKind::kWatchdog;
      e.name = s.name;
      e.uuid = s.uuid;
      handle(e);
    } else if (s.state == DomainRunState::kRunning && !jobs_->busy(uri, s.uuid)) {
      tracker_.running_again(key);
    }
  }
  set_watched_count(uri, watched_count);
  GUESTDUMP_LOG(kInfo, kLog) << "reconciled " << uri << ": " << doms->size() << " domain(s), "
                             << crashed << " stopped by a crash or watchdog";
}

void Daemon::consider_dump(const Hypervisor& w, const DomainStatus& s, policies::Trigger trigger) {
  if (!watched(s, true)) return;
  const std::string key = guest_key(w.uri(), s.uuid);
  CrashMark mark{s.id, s.vcpu_time_ns};
  if (!tracker_.claim(key, mark)) {
    GUESTDUMP_LOG(kDebug, kLog) << "'" << s.name << "' (" << policies::to_string(trigger)
                                << "): this crash is already dumped or being dumped";
    return;
  }
  DumpJob job{w.uri(), s.name, s.uuid, trigger, {}};
  if (jobs_->busy(w.uri(), s.uuid)) {
    // Checked before the crash-loop limiter, which would count a dump that is not taken.
    recheck_when_idle(job, mark);
    return;
  }
  policies::CrashLoopDecision d;
  {
    std::lock_guard lock(limiter_mu_);
    d = limiter_.admit(s.uuid, wall_now());
  }
  if (!d.dump) {
    metrics_.refused(policies::to_string(trigger), RefusalReason::kCrashLoop);
    GUESTDUMP_LOG_WITH(kWarn, kLog,
                       guest_event_fields(message_id::kDumpRefused, s.name, s.uuid,
                                          policies::to_string(trigger), {}, "refused"))
        << "'" << s.name << "' " << policies::to_string(trigger)
        << " recorded, not dumped: " << d.reason;
    // The after-dump policy still applies (on a worker: it talks to libvirt), so a guest in a
    // crash loop is restarted or destroyed as configured instead of staying crashed.
    job.refused = d.reason;
  }
  switch (jobs_->submit(job)) {
  case JobQueue::Admit::kQueued:
    GUESTDUMP_LOG_WITH(kInfo, kLog,
                       guest_event_fields(message_id::kDumpQueued, s.name, s.uuid,
                                          policies::to_string(trigger), {}, "queued"))
        << "'" << s.name << "' on " << w.uri() << ": " << policies::to_string(trigger)
        << "; dump queued";
    break;
  case JobQueue::Admit::kDuplicate:
    recheck_when_idle(job, mark);
    break;
  case JobQueue::Admit::kStopped:
    GUESTDUMP_LOG(kWarn, kLog) << "'" << s.name << "' (" << policies::to_string(trigger)
                               << "): not dumped, guestdumpd is stopping";
    break;
  }
}

void Daemon::act_on_hang(const Hypervisor& w, const DomainStatus& s,
                         const policies::HangDecision& d, policies::Trigger trigger) {
  auto hang_event = [&] {
    return guest_event_fields(message_id::kHangDetected, s.name, s.uuid,
                              policies::to_string(trigger));
  };
  switch (d.step) {
  case policies::HangStep::kNone:
    return;
  case policies::HangStep::kReport:
    GUESTDUMP_LOG_WITH(kWarn, kLog, hang_event()) << "'" << s.name << "': " << d.reason;
    return;
  case policies::HangStep::kInjectNmi: {
    GUESTDUMP_LOG_WITH(kWarn, kLog, hang_event())
        << "'" << s.name << "': " << d.reason << "; injecting an NMI";
    auto r = w.inject_nmi(s.uuid);
    if (!r) {
      GUESTDUMP_LOG(kError, kLog) << r.error().message;
      policies::HangDecision next;
      {
        std::lock_guard lock(hang_mu_);
        next = detector(guest_key(w.uri(), s.uuid), s).on_event(policies::GuestEvent::kNmiFailed);
      }
      act_on_hang(w, s, next, trigger);
    }
    return;
  }
  case policies::HangStep::kDump:
    GUESTDUMP_LOG_WITH(kWarn, kLog, hang_event())
        << "'" << s.name << "': " << d.reason << "; dumping";
    consider_dump(w, s, trigger);
    return;
  }
}

} // namespace guestdump::host
