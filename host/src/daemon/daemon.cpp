// The daemon core's lifecycle: start, reload, stop, and the state its parts share; see daemon.h.

#include "guestdump/host/daemon.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>

#include "daemon_internal.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/formats/codec.h"
#include "guestdump/host/daemon_events.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/policies/free_space.h"
#include "guestdump/policies/retention.h"
#include "guestdump/policies/selection.h"
#include "guestdump/store/retention.h"

namespace guestdump::host {

using namespace daemon_detail;

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
  // Dumps of earlier runs whose upload did not finish (a restart cut it short, the store was
  // unreachable) are queued again; uploads resume from their state files.
  start_uploads(cfg);
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
    GUESTDUMP_LOG_WITH(kError, kLog, daemon_event_fields(message_id::kConfigRefused))
        << "reload refused, keeping the running configuration: dump-dir: " << store.error().message;
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
  auto applied = std::make_shared<const DaemonConfig>(std::move(next));
  {
    std::lock_guard lock(config_mu_);
    config_ = applied;
  }
  if (store_) {
    // A changed remote store or upload setting restarts the upload threads (a running upload is
    // cancelled and resumes from its state file); either way dumps not uploaded yet are queued.
    if (upload_settings_differ(*old, *applied)) {
      stop_uploads();
      start_uploads(applied);
    } else {
      queue_pending_uploads("reload");
      apply_keep_local(*applied, "reload");
    }
  }
  sampler_cv_.notify_all();
  GUESTDUMP_LOG_WITH(kInfo, kLog, daemon_event_fields(message_id::kConfigReloaded))
      << "configuration reloaded";
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
  // Running uploads are cancelled at once (their state stays for the next start): they must not
  // hold up the dumps' stop-timeout.
  stop_uploads();
  if (sampler_.joinable()) sampler_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (jobs_) {
    for (const DumpJob& j : jobs_->close()) {
      GUESTDUMP_LOG(kWarn, kLog) << "stopping: queued dump of '" << j.name << "' ("
                                 << policies::to_string(j.trigger) << ") not taken";
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

void Daemon::set_watched_count(const std::string& uri, std::size_t n) {
  std::lock_guard lock(status_mu_);
  watched_by_uri_[uri] = n;
}

void Daemon::set_last_dump(const std::string& what) {
  std::lock_guard lock(status_mu_);
  last_dump_ = what;
}

DaemonStatus Daemon::status() const {
  DaemonStatus s;
  s.connections = watchers_.size();
  for (const auto& w : watchers_) s.connected += w->connected() ? 1 : 0;
  s.dumps_running = jobs_ ? jobs_->running() : 0;
  {
    std::lock_guard lock(upload_mu_);
    s.uploads_waiting = uploads_ ? uploads_->backlog() : 0;
  }
  {
    std::lock_guard lock(status_mu_);
    for (const auto& [uri, n] : watched_by_uri_) s.guests_watched += n;
    s.last_dump = last_dump_;
  }
  const std::int64_t now = steady_ns();
  const std::int64_t limit = std::chrono::nanoseconds(kStuckAfter).count();
  for (const auto& [what, since] :
       {std::pair<const char*, std::int64_t>{"the dispatcher", dispatcher_busy_since_.load()},
        {"the hang sampler", sampler_busy_since_.load()}}) {
    if (since != 0 && now - since > limit) {
      s.stuck = std::string(what) + " has been on one step for " +
                std::to_string((now - since) / 1'000'000'000) + " s";
    }
  }
  return s;
}

std::string status_line(const DaemonStatus& s) {
  std::string out = "watching " + std::to_string(s.guests_watched) + " guest(s) on " +
                    std::to_string(s.connected) + "/" + std::to_string(s.connections) +
                    " connection(s); " + std::to_string(s.dumps_running) + " dump(s) running";
  if (s.uploads_waiting > 0) {
    out += "; " + std::to_string(s.uploads_waiting) + " upload(s) waiting";
  }
  if (!s.last_dump.empty()) out += "; last: " + s.last_dump;
  if (!s.stuck.empty()) out += "; STUCK: " + s.stuck;
  return out;
}

std::string Daemon::metrics_text() const {
  std::optional<std::uint64_t> free_bytes;
  std::optional<std::uint64_t> size_bytes;
  if (auto space = store::store_space(config()->dump_dir)) {
    free_bytes = space->free_bytes;
    size_bytes = space->total_bytes;
  }
  return metrics_.render(status(), free_bytes, size_bytes);
}

void Daemon::write_metrics() {
  const std::string path = config()->metrics_file;
  if (path.empty()) return;
  const std::string text = metrics_text();
  std::lock_guard lock(metrics_file_mu_);
  auto r = write_metrics_file(path, text);
  const std::string err = r ? std::string() : r.error().message;
  if (err != metrics_error_) {
    if (!err.empty()) {
      GUESTDUMP_LOG(kWarn, kLog) << "metrics: " << err << " (is node-exporter installed? set "
                                 << "metrics-file, or leave it empty for none)";
    } else {
      GUESTDUMP_LOG(kInfo, kLog) << "metrics: writing " << path << " again";
    }
    metrics_error_ = err;
  }
}

} // namespace guestdump::host
