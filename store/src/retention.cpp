// Retention and free space on the store's side; see retention.h.

#include "guestdump/store/retention.h"

#include <chrono>

#include <sys/statvfs.h>

#include "guestdump/common/log.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::store {

std::vector<policies::StoredDump> retention_view(const std::vector<StoredDump>& dumps) {
  std::vector<policies::StoredDump> out;
  for (const StoredDump& d : dumps) {
    policies::StoredDump p;
    p.guest = d.domain;
    p.id = d.name;
    p.bytes = d.bytes;
    std::int64_t t = d.meta ? d.meta->started_at : 0;
    // No readable meta.json: the directory name is the time (YYYYmmddTHHMMSSZ[-N]).
    if (t == 0) t = store_time(d.name);
    p.time = policies::WallTime(std::chrono::seconds(t));
    if (d.partial) {
      p.status = policies::DumpStatus::kIncomplete;
      p.in_use = d.in_use;
    } else if (!d.meta || d.meta->status != "complete") {
      p.status = policies::DumpStatus::kFailed;
    } else {
      p.status = policies::DumpStatus::kComplete;
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<StoredDump>> prune(const Backend& backend,
                                      const policies::RetentionPolicy& policy,
                                      policies::WallTime now, const Incoming& incoming) {
  GUESTDUMP_TRY(std::vector<StoredDump> listed, backend.list(std::nullopt));
  std::vector<policies::StoredDump> view = retention_view(listed);
  if (incoming.hold) {
    for (std::size_t i = 0; i < listed.size(); ++i) {
      if (incoming.hold(listed[i])) view[i].in_use = true;
    }
  }
  if (incoming.counted_in_keep) {
    // An empty id matches no listed dump, so the incoming dump itself is never deleted. It is
    // the newest whatever the clock says: a second later than every listed dump, so dumps of
    // the same second ("...Z", "...Z-2") or from before the clock was set back sort before it
    // (with time `now` and the empty id it sorted first among them, and `keep` deleted none).
    policies::StoredDump next;
    next.guest = *incoming.counted_in_keep;
    next.time = now;
    for (const policies::StoredDump& d : view) {
      if (d.time >= next.time) next.time = d.time + std::chrono::seconds(1);
    }
    view.push_back(std::move(next));
  }
  const policies::RetentionPlan plan = policies::plan_retention(view, now, policy, incoming.bytes);
  std::vector<StoredDump> deleted;
  for (const policies::Deletion& del : plan.deletions) {
    for (const StoredDump& d : listed) {
      if (d.domain != del.dump.guest || d.name != del.dump.id) continue;
      if (auto r = backend.remove(d); !r) {
        GUESTDUMP_LOG(kWarn, "store") << "retention: " << r.error().message;
        continue;
      }
      LogFields fields{{"MESSAGE_ID", kRetentionDeletedMessageId},
                       {"GUESTDUMP_DOMAIN", d.domain},
                       {"GUESTDUMP_DUMP_DIR", d.path},
                       {"GUESTDUMP_STATUS", "deleted"}};
      if (d.meta && !d.meta->uuid.empty()) fields.push_back({"GUESTDUMP_UUID", d.meta->uuid});
      GUESTDUMP_LOG_WITH(kInfo, "store", std::move(fields))
          << "retention: deleted " << d.path << " (" << del.reason << ")";
      deleted.push_back(d);
    }
  }
  if (plan.over_budget) {
    GUESTDUMP_LOG(kWarn, "store") << "retention: '" << backend.location()
                                  << "' is over max-total with only dumps in use left";
  }
  return deleted;
}

Result<policies::StoreSpace> store_space(const std::string& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return errno_error("statvfs", dir);
  policies::StoreSpace space;
  space.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  space.total_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  return space;
}

} // namespace guestdump::store
