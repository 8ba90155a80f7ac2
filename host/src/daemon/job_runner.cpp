// The job runner: one dump job on a worker thread (free-space check, capture, retention,
// after-dump policy, post-hook), and what follows when it ends.

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
#include "guestdump/host/daemon_events.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/policies/free_space.h"
#include "guestdump/policies/retention.h"
#include "guestdump/policies/selection.h"
#include "guestdump/policies/upload.h"
#include "guestdump/store/retention.h"

namespace guestdump::host {

using namespace daemon_detail;

namespace {

// The journal fields of an event of `job`'s dump.
LogFields job_event(std::string_view id, const DumpJob& job, std::string_view dump_dir = {},
                    std::string_view status = {}) {
  return guest_event_fields(id, job.name, job.uuid, policies::to_string(job.trigger), dump_dir,
                            status);
}

} // namespace

void Daemon::apply_retention(const store::DumpStore& store, const DaemonConfig& cfg,
                             std::uint64_t incoming, const std::string& when) {
  // In-use partial directories are those whose writer (this daemon or a `guestdump dump`)
  // holds their lock: retention never deletes them.
  store::Incoming in{incoming, std::nullopt, {}};
  if (cfg.upload_url) {
    // With a remote store configured no rule deletes a dump before its upload is confirmed.
    in.hold = [](const store::StoredDump& d) {
      return policies::needs_upload(upload_view({d}).front());
    };
  }
  auto pruned = store::prune(store, cfg.policy.retention, wall_now(), in);
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
  GUESTDUMP_LOG(kInfo, kLog) << "'" << job.name << "' (" << policies::to_string(job.trigger)
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
  GUESTDUMP_LOG_WITH(kError, kLog, job_event(message_id::kDumpFailed, job, {}, "failed"))
      << "dump of '" << job.name << "' (" << policies::to_string(job.trigger)
      << ") ended by an unexpected error: " << what;
  metrics_.dump_ended(policies::to_string(job.trigger), "failed", 0, 0, 0, 0);
  // The event stays on record (and counts for the crash-loop limit at the next start).
  guarded("recording the failure", [&] {
    auto store = store::DumpStore::open(config()->dump_dir);
    if (!store) return;
    store::DumpMeta meta;
    meta.domain = job.name;
    meta.uuid = job.uuid;
    meta.trigger = std::string(policies::to_string(job.trigger));
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
  auto not_taken = [&](const std::string& why, RefusalReason reason) {
    metrics_.refused(policies::to_string(job.trigger), reason);
    GUESTDUMP_LOG_WITH(kError, kLog, job_event(message_id::kDumpRefused, job, {}, "refused"))
        << why;
    tracker_.release(key, mark);
    after_dump(*w, job, settings);
  };
  auto store = store::DumpStore::open(cfg->dump_dir);
  if (!store) {
    not_taken("dump of '" + job.name + "' not taken: " + store.error().message,
              RefusalReason::kStore);
    return;
  }
  const policies::DumpSizeEstimate est =
      policies::estimate_dump_size({st->memory_bytes, settings.dump_level, settings.codec});
  apply_retention(*store, *cfg, est.upper_bound, "before dump");

  const auto space = store::store_space(store->dir());
  if (!space) {
    not_taken("dump of '" + job.name + "' not taken: " + space.error().message,
              RefusalReason::kStore);
    return;
  }
  {
    std::unique_lock lock(space_mu_);
    policies::SpaceDecision sd = policies::check_free_space(
        *space, cfg->policy.min_free, est, reserved_bytes_, "dump of '" + job.name + "'");
    if (!sd.allowed) {
      lock.unlock();
      not_taken("refusing " + std::string(policies::to_string(job.trigger)) + " dump: " + sd.reason,
                RefusalReason::kFreeSpace);
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
  GUESTDUMP_LOG_WITH(kInfo, kLog, job_event(message_id::kDumpStarted, job, store->dir(), "running"))
      << "dumping '" << job.name << "' (" << policies::to_string(job.trigger) << ", "
      << format_bytes(st->memory_bytes) << " RAM, level " << settings.dump_level << ", "
      << policies::to_string(settings.codec) << ") into " << store->dir();
  const auto t0 = std::chrono::steady_clock::now();
  auto res = w->capture(job.uuid, *store, opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res) {
    GUESTDUMP_LOG_WITH(kError, kLog,
                       job_event(message_id::kDumpFailed, job, store->dir(), "failed"))
        << "dump of '" << job.name << "' failed after " << static_cast<int>(secs)
        << "s: " << res.error().message;
    set_last_dump("'" + job.name + "' failed at " + utc_now_text());
    metrics_.dump_ended(policies::to_string(job.trigger),
                        res.error().code == ErrorCode::kCancelled ? "cancelled" : "failed", secs, 0,
                        0, 0);
    write_metrics();
    if (res.error().code == ErrorCode::kCancelled) return;
    apply_retention(*store, *cfg, 0, "after dump");
    after_dump(*w, job, settings);
    return;
  }
  GUESTDUMP_LOG_WITH(kInfo, kLog, job_event(message_id::kDumpComplete, job, res->dir, "complete"))
      << "dump of '" << job.name << "' complete: " << res->dir << " ("
      << format_bytes(res->meta.vmcore_bytes) << ", " << res->meta.pages_dumped << " pages, "
      << static_cast<int>(secs + 0.5) << "s, guest paused "
      << static_cast<int>(res->meta.pause_seconds + 0.5) << "s)";
  set_last_dump("'" + job.name + "' complete at " + utc_now_text());
  metrics_.dump_ended(policies::to_string(job.trigger), "complete", secs, res->meta.pause_seconds,
                      res->meta.vmcore_bytes, static_cast<std::int64_t>(std::time(nullptr)));
  write_metrics();
  apply_retention(*store, *cfg, 0, "after dump");
  // The upload runs on its own threads: the next guest's capture never waits for it.
  queue_upload(res->dir);
  after_dump(*w, job, settings);
  if (!cfg->post_hook.empty()) {
    auto rc = run_post_hook(cfg->post_hook, res->dir, cfg->post_hook_timeout);
    if (!rc) {
      GUESTDUMP_LOG_WITH(kError, kLog, job_event(message_id::kPostHook, job, res->dir, "failed"))
          << rc.error().message;
    } else if (*rc != 0) {
      GUESTDUMP_LOG_WITH(kWarn, kLog, job_event(message_id::kPostHook, job, res->dir, "failed"))
          << "post-hook '" << cfg->post_hook << "' exited with " << *rc << " for " << res->dir;
    } else {
      GUESTDUMP_LOG_WITH(kInfo, kLog, job_event(message_id::kPostHook, job, res->dir, "complete"))
          << "post-hook ran for " << res->dir;
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
  in.trigger = job.trigger;
  in.policy = settings.after_dump;
  in.state = run_state_of(*st);
  in.paused_by_us = false; // libvirt pauses a running guest for the dump and resumes it itself
  in.persistent = st->persistent;
  const policies::AfterDumpPlan plan = policies::plan_after_dump(in);
  GUESTDUMP_LOG_WITH(kInfo, kLog, job_event(message_id::kAfterDump, job))
      << "after-dump for '" << job.name << "': " << plan.reason;
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
