// guestdumpd's core; see daemon.h.

#include "guestdump/host/daemon.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>

#include <sys/statvfs.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/formats/codec.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/policies/free_space.h"
#include "guestdump/policies/retention.h"
#include "guestdump/policies/selection.h"
#include "guestdump/store/retention.h"

namespace guestdump::host {

namespace {

constexpr const char* kLog = "daemon";

// Events waiting for the dispatcher; beyond this a connection is reconciled instead.
constexpr std::size_t kMaxQueuedEvents = 4096;
// Guest-agent queries: two workers, a bounded queue, one query per guest and kind per minute.
constexpr unsigned kGuestCallWorkers = 2;
constexpr std::size_t kMaxQueuedGuestCalls = 256;
constexpr std::chrono::milliseconds kGuestCallInterval{std::chrono::seconds(60)};
constexpr unsigned kAgentPingWorkers = 8;

std::string guest_key(const std::string& uri, const std::string& uuid) {
  return uri + " " + uuid;
}

policies::WallTime wall_now() {
  return std::chrono::time_point_cast<policies::Duration>(std::chrono::system_clock::now());
}

policies::MonoTime mono_now() {
  return policies::MonoTime(std::chrono::duration_cast<policies::Duration>(
      std::chrono::steady_clock::now().time_since_epoch()));
}

policies::GuestIdentity identity(const DomainStatus& s) {
  policies::GuestIdentity g;
  g.name = s.name;
  g.uuid = s.uuid;
  if (s.watch)
    g.metadata = *s.watch ? policies::MetadataOptIn::kOptIn : policies::MetadataOptIn::kOptOut;
  return g;
}

policies::AgentStatus agent_status_of(AgentPing p) {
  switch (p) {
  case AgentPing::kAnswered:
    return policies::AgentStatus::kAnswered;
  case AgentPing::kNotInstalled:
    return policies::AgentStatus::kNotInstalled;
  case AgentPing::kNotConnected:
    return policies::AgentStatus::kNotConnected;
  case AgentPing::kFailed:
    return policies::AgentStatus::kFailed;
  }
  return policies::AgentStatus::kUnknown;
}

policies::Trigger trigger_of(const std::string& t) {
  if (t == "crashloaded") return policies::Trigger::kCrashLoaded;
  if (t == "watchdog") return policies::Trigger::kWatchdog;
  if (t == "hang") return policies::Trigger::kHang;
  return policies::Trigger::kPanic;
}

policies::Lifecycle lifecycle_of(const DomainStatus& s) {
  switch (s.state) {
  case DomainRunState::kRunning:
    return policies::Lifecycle::kRunning;
  case DomainRunState::kPaused:
    return s.migrating ? policies::Lifecycle::kMigrating : policies::Lifecycle::kPaused;
  case DomainRunState::kShuttingDown:
    return policies::Lifecycle::kShuttingDown;
  case DomainRunState::kCrashed:
    return policies::Lifecycle::kCrashed;
  case DomainRunState::kPmSuspended:
    return policies::Lifecycle::kPmSuspended;
  case DomainRunState::kShutOff:
  case DomainRunState::kOther:
    break;
  }
  return policies::Lifecycle::kShutOff;
}

policies::GuestRunState run_state_of(const DomainStatus& s) {
  if (s.panicked || s.state == DomainRunState::kCrashed) {
    return policies::GuestRunState::kCrashed;
  }
  switch (s.state) {
  case DomainRunState::kRunning:
    return policies::GuestRunState::kRunning;
  case DomainRunState::kShutOff:
    return policies::GuestRunState::kShutOff;
  default:
    return policies::GuestRunState::kPaused;
  }
}

} // namespace

Daemon::Daemon(DaemonConfig config, HypervisorDriver driver)
    : config_(std::make_shared<const DaemonConfig>(std::move(config))), driver_(std::move(driver)),
      limiter_(config_->policy.crash_loop) {}

Daemon::~Daemon() {
  stop();
}

std::shared_ptr<const DaemonConfig> Daemon::config() const {
  std::lock_guard lock(config_mu_);
  return config_;
}

const Hypervisor* Daemon::watcher(const std::string& uri) const {
  for (const auto& w : watchers_) {
    if (w->uri() == uri) return w.get();
  }
  return nullptr;
}

Result<void> Daemon::start() {
  auto cfg = config();
  auto opened = store::DumpStore::open(cfg->dump_dir);
  if (!opened) return std::move(opened).error().context("dump-dir '" + cfg->dump_dir + "'");
  store::DumpStore store = std::move(opened).value();
  GUESTDUMP_CHECK(check_store_writable(store.dir()));
  // Dumps whose writer died (this daemon killed, a `guestdump dump` killed) become failure
  // records first, so they count for the crash-loop limit and their crash is not dumped again.
  if (auto rec = store.recover_interrupted()) {
    for (const std::string& d : *rec) {
      GUESTDUMP_LOG(kWarn, kLog) << "interrupted dump recorded as failed: " << d;
    }
  } else {
    GUESTDUMP_LOG(kWarn, kLog) << "recovering interrupted dumps: " << rec.error().message;
  }
  // Seed de-duplication and the crash-loop history from what earlier runs left in the store.
  if (auto listed = store.list()) {
    for (const auto& [key, mark] : crash_marks(*listed)) tracker_.seed(key, mark);
    const auto now = wall_now();
    for (const auto& [uuid, times] : dump_times(*listed)) {
      std::vector<policies::WallTime> wt;
      for (std::int64_t t : times) wt.emplace_back(std::chrono::seconds(t));
      std::sort(wt.begin(), wt.end());
      limiter_.seed(uuid, wt, now);
    }
  } else {
    GUESTDUMP_LOG(kWarn, kLog) << "reading the store: " << listed.error().message;
  }
  store_.emplace(std::move(store));

  jobs_ = std::make_unique<JobQueue>(
      cfg->jobs, [this](const DumpJob& job) { run_job(job); },
      [this](const DumpJob& job) { job_done(job); });
  guest_calls_ =
      std::make_unique<GuestCalls>(kGuestCallWorkers, kMaxQueuedGuestCalls, kGuestCallInterval);
  // One ping per guest per sample; the pool is wide so a few silent agents cannot queue the
  // rest behind libvirt's 5 s re-sync each.
  agent_pings_ = std::make_unique<GuestCalls>(kAgentPingWorkers, kMaxQueuedGuestCalls,
                                              std::chrono::milliseconds(0));
  dispatcher_ = std::thread([this] { dispatcher_main(); });
  for (const std::string& uri : cfg->connect) {
    HypervisorOptions o;
    o.uri = uri;
    o.keepalive_interval = cfg->keepalive_interval;
    o.keepalive_count = cfg->keepalive_count;
    o.reconnect_max = cfg->reconnect_max;
    watchers_.push_back(driver_.open(o, [this](WatchEvent e) { on_event(std::move(e)); }));
  }
  // All watchers exist before the first event: the dispatcher looks them up by URI.
  for (auto& w : watchers_) GUESTDUMP_CHECK(w->start());
  sampler_ = std::thread([this] { sampler_main(); });
  GUESTDUMP_LOG(kInfo, kLog)
      << "watching " << cfg->connect.size() << " libvirt connection(s); store " << cfg->dump_dir
      << ", jobs " << cfg->jobs << ", hang-timeout "
      << std::chrono::duration_cast<std::chrono::seconds>(cfg->policy.hang.timeout).count() << "s";
  return {};
}

void Daemon::reload(DaemonConfig next) {
  auto old = config();
  if (next.connect != old->connect) {
    GUESTDUMP_LOG(kWarn, kLog) << "reload: 'connect' changed; restart guestdumpd to apply it";
    next.connect = old->connect;
  }
  auto store = store::DumpStore::open(next.dump_dir);
  if (!store) {
    GUESTDUMP_LOG(kError, kLog) << "reload refused, keeping the running configuration: dump-dir: "
                                << store.error().message;
    return;
  }
  {
    std::lock_guard lock(limiter_mu_);
    limiter_.set_policy(next.policy.crash_loop);
  }
  {
    std::lock_guard lock(hang_mu_);
    // Detectors are rebuilt lazily with the new policy; current state is kept by set_policy.
    for (auto& [key, d] : detectors_) {
      d->set_policy(next.policy.hang, next.policy.defaults.hang_action);
    }
  }
  if (jobs_) jobs_->set_workers(next.jobs);
  {
    std::lock_guard lock(config_mu_);
    config_ = std::make_shared<const DaemonConfig>(std::move(next));
  }
  sampler_cv_.notify_all();
  GUESTDUMP_LOG(kInfo, kLog) << "configuration reloaded";
}

void Daemon::stop() {
  {
    std::lock_guard lock(events_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  events_cv_.notify_all();
  {
    std::lock_guard lock(hang_mu_);
    sampler_stop_ = true;
  }
  sampler_cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (jobs_) {
    for (const DumpJob& j : jobs_->close()) {
      GUESTDUMP_LOG(kWarn, kLog) << "stopping: queued dump of '" << j.name << "' (" << j.trigger
                                 << ") not taken";
    }
    auto cfg = config();
    const auto deadline = std::chrono::steady_clock::now() + cfg->stop_timeout;
    if (jobs_->running() > 0) {
      GUESTDUMP_LOG(kInfo, kLog) << "stopping: waiting up to " << cfg->stop_timeout.count()
                                 << "s for " << jobs_->running() << " running dump(s)";
    }
    if (!jobs_->wait_idle(deadline)) {
      GUESTDUMP_LOG(kWarn, kLog) << "stopping: aborting " << jobs_->running()
                                 << " running dump(s); they are recorded as failed";
      request_cancel();
    }
    jobs_->join();
  }
  if (guest_calls_) guest_calls_->stop();
  if (agent_pings_) agent_pings_->stop();
  for (auto& w : watchers_) w->stop();
  if (driver_.after_stop) driver_.after_stop();
}

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
      guarded("reconcile after dropped events", [&] { reconcile(uri); });
      lock.lock();
      continue;
    }
    WatchEvent e = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    guarded("event", [&] { handle(e); });
    lock.lock();
  }
}

void Daemon::guarded(const char* what, const std::function<void()>& fn) {
  // The dispatcher must outlive anything one event carries: a bug here would otherwise end
  // the whole daemon and every other guest's dump with it.
  try {
    fn();
  } catch (const std::exception& e) {
    GUESTDUMP_LOG(kError, kLog) << what << " ended by an unexpected error: " << e.what();
  } catch (...) {
    GUESTDUMP_LOG(kError, kLog) << what << " ended by an unexpected error";
  }
}

bool Daemon::watched(const DomainStatus& status, bool log_refusal) {
  auto cfg = config();
  policies::GuestSelection sel = policies::select_guest(cfg->policy.selection, identity(status));
  if (!sel.watched && log_refusal) {
    std::lock_guard lock(ignored_mu_);
    if (ignored_logged_.insert(status.uuid).second) {
      GUESTDUMP_LOG(kInfo, kLog) << "'" << status.name << "' is not watched: " << sel.reason;
    }
  }
  return sel.watched;
}

policies::HangDetector& Daemon::detector(const std::string& key, const DomainStatus& status) {
  auto& d = detectors_[key];
  if (!d) {
    auto cfg = config();
    const policies::DumpSettings s = policies::settings_for(cfg->policy, identity(status));
    d = std::make_unique<policies::HangDetector>(cfg->policy.hang, s.hang_action);
  }
  return *d;
}

void Daemon::handle(const WatchEvent& e) {
  GUESTDUMP_LOG(kDebug, kLog) << e.uri << ": event " << to_string(e.kind)
                              << (e.name.empty() ? "" : " '" + e.name + "'") << " detail "
                              << e.detail;
  using K = WatchEventKind;
  if (e.kind == K::kConnected) {
    reconcile(e.uri);
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
    if (!jobs_->busy(e.uri, e.uuid)) tracker_.running_again(key);
    std::lock_guard lock(hang_mu_);
    detectors_.erase(key);
    vmcoreinfo_pa_.erase(key);
    if (e.kind == K::kStopped && e.detail == kStoppedCrashedDetail) {
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
    std::string trigger;
    {
      std::lock_guard lock(recheck_mu_);
      auto it = recheck_.find(key);
      if (it == recheck_.end()) return;
      trigger = it->second;
      recheck_.erase(it);
    }
    if (st->panicked || st->watchdog || st->state == DomainRunState::kCrashed) {
      consider_dump(*w, *st, st->panicked ? "panic" : st->watchdog ? "watchdog" : trigger);
    } else {
      GUESTDUMP_LOG(kInfo, kLog) << "'" << e.name << "' is " << to_string(st->state)
                                 << " again: the " << trigger << " seen during its last dump "
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
      consider_dump(*w, *st, "panic");
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
    consider_dump(*w, *st, "crashloaded");
    return;
  }
  case K::kWatchdog: {
    if (!watched(*st, true)) return;
    policies::HangDecision d;
    {
      std::lock_guard lock(hang_mu_);
      d = detector(key, *st).on_event(policies::GuestEvent::kWatchdog);
    }
    act_on_hang(*w, *st, d, "watchdog");
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
  for (const DomainStatus& s : *doms) {
    const std::string key = guest_key(uri, s.uuid);
    if (s.panicked) {
      ++crashed;
      consider_dump(*w, s, "panic");
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
  GUESTDUMP_LOG(kInfo, kLog) << "reconciled " << uri << ": " << doms->size() << " domain(s), "
                             << crashed << " stopped by a crash or watchdog";
}

void Daemon::consider_dump(const Hypervisor& w, const DomainStatus& s, const std::string& trigger) {
  if (!watched(s, true)) return;
  const std::string key = guest_key(w.uri(), s.uuid);
  CrashMark mark{s.id, s.vcpu_time_ns};
  if (!tracker_.claim(key, mark)) {
    GUESTDUMP_LOG(kDebug, kLog) << "'" << s.name << "' (" << trigger
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
    GUESTDUMP_LOG(kWarn, kLog) << "'" << s.name << "' " << trigger
                               << " recorded, not dumped: " << d.reason;
    // The after-dump policy still applies (on a worker: it talks to libvirt), so a guest in a
    // crash loop is restarted or destroyed as configured instead of staying crashed.
    job.refused = d.reason;
  }
  switch (jobs_->submit(job)) {
  case JobQueue::Admit::kQueued:
    GUESTDUMP_LOG(kInfo, kLog) << "'" << s.name << "' on " << w.uri() << ": " << trigger
                               << "; dump queued";
    break;
  case JobQueue::Admit::kDuplicate:
    recheck_when_idle(job, mark);
    break;
  case JobQueue::Admit::kStopped:
    GUESTDUMP_LOG(kWarn, kLog) << "'" << s.name << "' (" << trigger
                               << "): not dumped, guestdumpd is stopping";
    break;
  }
}

void Daemon::act_on_hang(const Hypervisor& w, const DomainStatus& s,
                         const policies::HangDecision& d, const std::string& trigger) {
  switch (d.step) {
  case policies::HangStep::kNone:
    return;
  case policies::HangStep::kReport:
    GUESTDUMP_LOG(kWarn, kLog) << "'" << s.name << "': " << d.reason;
    return;
  case policies::HangStep::kInjectNmi: {
    GUESTDUMP_LOG(kWarn, kLog) << "'" << s.name << "': " << d.reason << "; injecting an NMI";
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
    GUESTDUMP_LOG(kWarn, kLog) << "'" << s.name << "': " << d.reason << "; dumping";
    consider_dump(w, s, trigger);
    return;
  }
}

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
    sample_once();
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
    for (const DomainStatus& s : *doms) {
      if (s.id < 0 || !watched(s, false)) continue;
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
      act_on_hang(*w, s, d, "hang");
    }
  }
}

void Daemon::apply_retention(const store::DumpStore& store, const DaemonConfig& cfg,
                             std::uint64_t incoming, const std::string& when) {
  // In-use partial directories are those whose writer (this daemon or a `guestdump dump`)
  // holds their lock: retention never deletes them.
  auto pruned = store::prune(store, cfg.policy.retention, wall_now(), {incoming, std::nullopt});
  if (!pruned) {
    GUESTDUMP_LOG(kWarn, kLog) << "retention (" << when << "): " << pruned.error().message;
  }
}

void Daemon::run_job(const DumpJob& job) {
  try {
    dump_job(job);
  } catch (const std::exception& e) {
    job_failed_unexpectedly(job, e.what());
  } catch (...) {
    job_failed_unexpectedly(job, "unknown exception");
  }
}

void Daemon::recheck_when_idle(const DumpJob& job, const CrashMark& mark) {
  // A new crash while the previous job of this guest still runs (its after-dump restarted the
  // guest, its post-hook is still going): the claim is given back and the guest looked at again
  // when that job ends.
  GUESTDUMP_LOG(kInfo, kLog) << "'" << job.name << "' (" << job.trigger
                             << "): a dump of it is still running; looking again when it ends";
  tracker_.release(guest_key(job.uri, job.uuid), mark);
  {
    std::lock_guard lock(recheck_mu_);
    recheck_[guest_key(job.uri, job.uuid)] = job.trigger;
  }
  // The job may have ended since it was seen busy, its done callback finding nothing to do.
  if (!jobs_->busy(job.uri, job.uuid)) job_done(job);
}

void Daemon::job_done(const DumpJob& job) {
  const std::string key = guest_key(job.uri, job.uuid);
  {
    std::lock_guard lock(recheck_mu_);
    if (recheck_.count(key) == 0) return;
  }
  WatchEvent e;
  e.uri = job.uri;
  e.kind = WatchEventKind::kRecheck;
  e.name = job.name;
  e.uuid = job.uuid;
  on_event(std::move(e));
}

void Daemon::job_failed_unexpectedly(const DumpJob& job, const std::string& what) {
  GUESTDUMP_LOG(kError, kLog) << "dump of '" << job.name << "' (" << job.trigger
                              << ") ended by an unexpected error: " << what;
  // The event stays on record (and counts for the crash-loop limit at the next start).
  guarded("recording the failure", [&] {
    auto store = store::DumpStore::open(config()->dump_dir);
    if (!store) return;
    store::DumpMeta meta;
    meta.domain = job.name;
    meta.uuid = job.uuid;
    meta.trigger = job.trigger;
    meta.tool = "guestdumpd";
    meta.tool_version = GUESTDUMP_VERSION;
    meta.started_at = static_cast<std::int64_t>(std::time(nullptr));
    meta.finished_at = meta.started_at;
    if (auto pending = store->begin(meta)) {
      (void)pending->fail(meta, "internal error: " + what);
    }
  });
  guarded("after-dump", [&] {
    const Hypervisor* w = watcher(job.uri);
    if (w == nullptr) return;
    auto st = w->domain(job.uuid, false);
    if (!st) return;
    after_dump(*w, job, policies::settings_for(config()->policy, identity(*st)));
  });
}

void Daemon::dump_job(const DumpJob& job) {
  auto cfg = config();
  const Hypervisor* w = watcher(job.uri);
  const std::string key = guest_key(job.uri, job.uuid);
  if (w == nullptr) return;
  auto st = w->domain(job.uuid, true);
  if (!st) {
    GUESTDUMP_LOG(kError, kLog) << "dump of '" << job.name << "' not taken: " << st.error().message;
    return;
  }
  const CrashMark mark{st->id, st->vcpu_time_ns};
  const policies::DumpSettings settings = policies::settings_for(cfg->policy, identity(*st));
  if (!job.refused.empty()) {
    after_dump(*w, job, settings);
    return;
  }
  // Every way out below that takes no dump still applies the after-dump policy: a refused or
  // failed dump must not leave the guest crashed when the operator asked for a restart.
  auto not_taken = [&](const std::string& why) {
    GUESTDUMP_LOG(kError, kLog) << why;
    tracker_.release(key, mark);
    after_dump(*w, job, settings);
  };
  auto store = store::DumpStore::open(cfg->dump_dir);
  if (!store) {
    not_taken("dump of '" + job.name + "' not taken: " + store.error().message);
    return;
  }
  const policies::DumpSizeEstimate est =
      policies::estimate_dump_size({st->memory_bytes, settings.dump_level, settings.codec});
  apply_retention(*store, *cfg, est.upper_bound, "before dump");

  struct statvfs vfs {};
  if (::statvfs(store->dir().c_str(), &vfs) != 0) {
    not_taken("dump of '" + job.name +
              "' not taken: " + errno_error("statvfs", store->dir()).message);
    return;
  }
  policies::StoreSpace space;
  space.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  space.total_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  {
    std::unique_lock lock(space_mu_);
    policies::SpaceDecision sd = policies::check_free_space(
        space, cfg->policy.min_free, est, reserved_bytes_, "dump of '" + job.name + "'");
    if (!sd.allowed) {
      lock.unlock();
      not_taken("refusing " + job.trigger + " dump: " + sd.reason);
      return;
    }
    reserved_bytes_ += est.upper_bound;
  }
  // Released on every way out, exceptions included.
  struct Reservation {
    Daemon& d;
    std::uint64_t bytes;
    ~Reservation() {
      std::lock_guard lock(d.space_mu_);
      d.reserved_bytes_ -= bytes;
    }
  } reservation{*this, est.upper_bound};

  CaptureOptions opts;
  opts.domain = job.name;
  opts.uuid = job.uuid;
  opts.trigger = job.trigger;
  opts.dump_level = settings.dump_level;
  // In meta.json from the first moment: an interrupted dump still names its crash.
  opts.daemon_record = crash_record(job.uri, mark);
  opts.tool = "guestdumpd";
  {
    std::lock_guard lock(hang_mu_);
    if (auto it = vmcoreinfo_pa_.find(key); it != vmcoreinfo_pa_.end()) {
      opts.vmcoreinfo_hint = it->second;
    }
  }
  opts.codec =
      formats::parse_codec(policies::to_string(settings.codec)).value_or(formats::Codec::kZstd);
  GUESTDUMP_LOG(kInfo, kLog) << "dumping '" << job.name << "' (" << job.trigger << ", "
                             << format_bytes(st->memory_bytes) << " RAM, level "
                             << settings.dump_level << ", " << policies::to_string(settings.codec)
                             << ") into " << store->dir();
  const auto t0 = std::chrono::steady_clock::now();
  auto res = w->capture(job.uuid, *store, opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res) {
    GUESTDUMP_LOG(kError, kLog) << "dump of '" << job.name << "' failed after "
                                << static_cast<int>(secs) << "s: " << res.error().message;
    if (res.error().code == ErrorCode::kCancelled) return;
    apply_retention(*store, *cfg, 0, "after dump");
    after_dump(*w, job, settings);
    return;
  }
  GUESTDUMP_LOG(kInfo, kLog) << "dump of '" << job.name << "' complete: " << res->dir << " ("
                             << format_bytes(res->meta.vmcore_bytes) << ", "
                             << res->meta.pages_dumped << " pages, " << static_cast<int>(secs + 0.5)
                             << "s, guest paused "
                             << static_cast<int>(res->meta.pause_seconds + 0.5) << "s)";
  apply_retention(*store, *cfg, 0, "after dump");
  after_dump(*w, job, settings);
  if (!cfg->post_hook.empty()) {
    auto rc = run_post_hook(cfg->post_hook, res->dir, cfg->post_hook_timeout);
    if (!rc) {
      GUESTDUMP_LOG(kError, kLog) << rc.error().message;
    } else if (*rc != 0) {
      GUESTDUMP_LOG(kWarn, kLog) << "post-hook '" << cfg->post_hook << "' exited with " << *rc
                                 << " for " << res->dir;
    } else {
      GUESTDUMP_LOG(kInfo, kLog) << "post-hook ran for " << res->dir;
    }
  }
}

void Daemon::after_dump(const Hypervisor& w, const DumpJob& job,
                        const policies::DumpSettings& settings) {
  auto st = w.domain(job.uuid, false);
  if (!st) {
    GUESTDUMP_LOG(kWarn, kLog) << "after-dump for '" << job.name << "': " << st.error().message;
    return;
  }
  policies::AfterDumpInput in;
  in.trigger = trigger_of(job.trigger);
  in.policy = settings.after_dump;
  in.state = run_state_of(*st);
  in.paused_by_us = false; // libvirt pauses a running guest for the dump and resumes it itself
  in.persistent = st->persistent;
  const policies::AfterDumpPlan plan = policies::plan_after_dump(in);
  GUESTDUMP_LOG(kInfo, kLog) << "after-dump for '" << job.name << "': " << plan.reason;
  for (policies::GuestStep step : plan.steps) {
    Result<void> r;
    switch (step) {
    case policies::GuestStep::kResume:
      r = w.resume(job.uuid);
      break;
    case policies::GuestStep::kReset:
      r = w.reset(job.uuid);
      break;
    case policies::GuestStep::kDestroy:
      r = w.destroy(job.uuid);
      break;
    case policies::GuestStep::kStart:
      r = w.create(job.uuid);
      break;
    }
    if (!r) {
      GUESTDUMP_LOG(kError, kLog) << "after-dump " << policies::to_string(step) << ": "
                                  << r.error().message;
      return;
    }
  }
}

} // namespace guestdump::host
