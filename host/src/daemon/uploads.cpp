// The daemon's uploads of finished dumps to the remote store (`upload`): the upload threads,
// queueing again what earlier runs did not finish, the journal and metrics of each upload, and
// keep-local once a dump's upload is confirmed.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon_internal.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/host/daemon.h"
#include "guestdump/host/daemon_events.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/objstore/dump_upload.h"
#include "guestdump/objstore/s3_client.h"
#include "guestdump/policies/upload.h"

namespace guestdump::host {

using namespace daemon_detail;

namespace {

std::uint64_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

// objstore::upload_dump of one directory with the configured part size, parallelism and rate.
Result<UploadDone> upload_with_objstore(const DaemonConfig& cfg, const std::string& dir,
                                        const std::function<bool()>& cancelled) {
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/meta.json", ec)) {
    return make_error(ErrorCode::kNotFound, "dump '" + dir + "' is gone");
  }
  objstore::S3Client client(*cfg.upload_s3);
  objstore::UploadOptions o;
  o.part_size = cfg.upload_part_size;
  o.parallel = cfg.upload_parallel;
  o.max_bytes_per_second = cfg.upload_max_rate;
  o.cancelled = cancelled;
  GUESTDUMP_TRY(std::string url, objstore::upload_dump(client, *cfg.upload_url, dir, o));
  return UploadDone{url, file_bytes(dir + "/vmcore") + file_bytes(dir + "/dmesg.txt")};
}

// The dump's confirmed upload URL when meta.json says the upload is complete and no upload of it
// is half done: a second queueing (a rescan racing the upload's end) then sends nothing again.
std::optional<std::string> confirmed_upload(const std::string& dir) {
  std::vector<store::StoredDump> one(1);
  one[0].path = dir;
  one[0].meta = store::read_meta(dir);
  if (!one[0].meta) return std::nullopt;
  const policies::LocalDump view = upload_view(one)[0];
  if (!view.upload_confirmed || view.upload_state_file) return std::nullopt;
  auto url = one[0].meta->upload.find("url");
  return url != one[0].meta->upload.end() && url->is_string() ? url->get<std::string>() : "";
}

} // namespace

void Daemon::set_uploader(UploadQueue::Uploader uploader) {
  uploader_ = std::move(uploader);
}

void Daemon::start_uploads(const std::shared_ptr<const DaemonConfig>& cfg) {
  if (!cfg->upload_url || !cfg->upload_s3) return;
  UploadQueue::Uploader inner = uploader_;
  if (!inner) {
    inner = [cfg](const std::string& dir, const std::function<bool()>& cancelled) {
      return upload_with_objstore(*cfg, dir, cancelled);
    };
  }
  UploadQueue::Uploader up = [inner](const std::string& dir,
                                     const std::function<bool()>& cancelled) -> Result<UploadDone> {
    if (auto url = confirmed_upload(dir)) return UploadDone{*url, 0, true};
    return inner(dir, cancelled);
  };
  {
    std::lock_guard lock(upload_mu_);
    uploads_ = std::make_unique<UploadQueue>(cfg->upload_jobs, std::move(up),
                                             [this](const UploadEnd& e) { upload_ended(e); });
  }
  GUESTDUMP_LOG(kInfo, kLog) << "uploading dumps to " << cfg->upload << " ("
                             << cfg->upload_s3->describe() << "), " << cfg->upload_jobs
                             << " at once";
  queue_pending_uploads("start");
  apply_keep_local(*cfg, "start");
}

void Daemon::stop_uploads() {
  std::unique_ptr<UploadQueue> q;
  {
    std::lock_guard lock(upload_mu_);
    q = std::move(uploads_);
  }
  if (!q) return;
  const std::size_t running = q->running();
  if (running > 0) {
    GUESTDUMP_LOG(kInfo, kLog) << "stopping " << running
                               << " upload(s); they resume from their state at the next start";
  }
  // Outside upload_mu_: the upload threads' reports read the status, which takes it.
  q->stop();
}

void Daemon::queue_upload(const std::string& dir) {
  std::lock_guard lock(upload_mu_);
  if (uploads_) uploads_->enqueue(dir);
}

void Daemon::queue_pending_uploads(const char* when) {
  {
    std::lock_guard lock(upload_mu_);
    if (!uploads_) return;
  }
  auto store = store::DumpStore::open(config()->dump_dir);
  if (!store) {
    GUESTDUMP_LOG(kWarn, kLog) << "uploads (" << when << "): " << store.error().message;
    return;
  }
  auto listed = store->list();
  if (!listed) {
    GUESTDUMP_LOG(kWarn, kLog) << "uploads (" << when << "): " << listed.error().message;
    return;
  }
  const std::vector<policies::LocalDump> view = upload_view(*listed);
  std::size_t queued = 0;
  // Oldest first, so the backlog drains in the order the dumps were taken.
  for (std::size_t i = listed->size(); i-- > 0;) {
    if (!policies::needs_upload(view[i])) continue;
    std::lock_guard lock(upload_mu_);
    if (uploads_ && uploads_->enqueue((*listed)[i].path)) ++queued;
  }
  if (queued > 0) {
    GUESTDUMP_LOG(kInfo, kLog) << "uploads (" << when << "): " << queued
                               << " dump(s) not uploaded yet queued";
  }
}

void Daemon::upload_ended(const UploadEnd& end) {
  const std::optional<store::DumpMeta> meta = store::read_meta(end.dir);
  const std::string domain = meta ? meta->domain : std::string();
  const std::string uuid = meta ? meta->uuid : std::string();
  if (end.result && end.result->already) {
    GUESTDUMP_LOG(kDebug, kLog) << "upload of " << end.dir << ": already complete";
    return;
  }
  if (end.result) {
    GUESTDUMP_LOG_WITH(kInfo, kLog,
                       upload_event_fields(message_id::kUploadComplete, domain, uuid, end.dir,
                                           "complete", end.result->url))
        << "upload of " << end.dir << " complete: " << end.result->url << " ("
        << format_bytes(end.result->bytes) << ", " << static_cast<int>(end.seconds + 0.5) << "s)";
    metrics_.upload_ended("complete", end.seconds, end.result->bytes);
  } else if (end.result.error().code == ErrorCode::kCancelled) {
    GUESTDUMP_LOG(kInfo, kLog) << "upload of " << end.dir
                               << " stopped; it resumes at the next start";
    metrics_.upload_ended("cancelled", end.seconds, 0);
  } else {
    const std::string url = config()->upload;
    std::string next =
        end.retry_in.count() > 0
            ? "; trying again in " +
                  std::to_string(
                      std::chrono::duration_cast<std::chrono::seconds>(end.retry_in).count()) +
                  "s (failure " + std::to_string(end.failures) + ")"
            : std::string("; not retried");
    GUESTDUMP_LOG_WITH(
        kError, kLog,
        upload_event_fields(message_id::kUploadFailed, domain, uuid, end.dir, "failed", url))
        << "upload of " << end.dir << " to " << url << " failed: " << end.result.error().message
        << next << " (the local dump is kept)";
    metrics_.upload_ended("failed", end.seconds, 0);
  }
  if (end.result) apply_keep_local(*config(), "after upload");
  write_metrics();
}

void Daemon::apply_keep_local(const DaemonConfig& cfg, const std::string& when) {
  if (!cfg.keep_local || !cfg.upload_url) return;
  std::lock_guard lock(keep_local_mu_);
  auto store = store::DumpStore::open(cfg.dump_dir);
  if (!store) return;
  auto listed = store->list();
  if (!listed) {
    GUESTDUMP_LOG(kWarn, kLog) << "keep-local (" << when << "): " << listed.error().message;
    return;
  }
  const std::vector<policies::LocalDump> view = upload_view(*listed);
  for (const policies::Deletion& del : policies::plan_keep_local(view, cfg.keep_local)) {
    for (const store::StoredDump& d : *listed) {
      if (d.domain != del.dump.guest || d.name != del.dump.id) continue;
      {
        // Never while it is queued or uploading: its upload is not settled yet.
        std::lock_guard ulock(upload_mu_);
        if (uploads_ && uploads_->pending(d.path)) continue;
      }
      if (auto r = store->remove(d); !r) {
        GUESTDUMP_LOG(kWarn, kLog) << "keep-local: " << r.error().message;
        continue;
      }
      LogFields fields{{"MESSAGE_ID", std::string(message_id::kRetentionDeleted)},
                       {"GUESTDUMP_DOMAIN", d.domain},
                       {"GUESTDUMP_DUMP_DIR", d.path},
                       {"GUESTDUMP_STATUS", "deleted"}};
      if (d.meta && !d.meta->uuid.empty()) fields.push_back({"GUESTDUMP_UUID", d.meta->uuid});
      GUESTDUMP_LOG_WITH(kInfo, kLog, std::move(fields))
          << "retention: deleted " << d.path << " (" << del.reason << ")";
    }
  }
}

} // namespace guestdump::host
