#pragma once
// The store's side of retention and free space: what the policies (policies/retention.h,
// free_space.h) are given, and carrying out their decisions on a Backend.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <guestdump/common/result.h>
#include <guestdump/policies/config.h>
#include <guestdump/policies/free_space.h>
#include <guestdump/policies/retention.h>
#include <guestdump/store/backend.h>

namespace guestdump::store {

/// The store as the retention policy sees it. A partial directory whose writer holds its lock
/// is in use; other partial directories are incomplete leftovers. A dump without readable
/// meta.json counts as failed, at the time its name stands for.
std::vector<policies::StoredDump> retention_view(const std::vector<StoredDump>& dumps);

/// The dump about to be written, for prune().
struct Incoming {
  std::uint64_t bytes = 0; // counted by max-total
  /// When set, `keep` counts the new dump as the newest of this domain, so `keep` N leaves N
  /// dumps with it (guestdump-guest's --keep); unset, `keep` N leaves N old ones (guestdumpd).
  std::optional<std::string> counted_in_keep;
  /// Dumps for which this is true are held like in-use ones: never deleted, by no rule (a dump
  /// whose upload to the remote store is not confirmed yet: deleting it would lose it).
  std::function<bool(const StoredDump&)> hold;
};

/// The journal's MESSAGE_ID of a retention deletion (guestdumpd's other IDs are in
/// host/daemon_events.h); the entry also carries GUESTDUMP_DOMAIN, GUESTDUMP_UUID,
/// GUESTDUMP_DUMP_DIR and GUESTDUMP_STATUS=deleted.
inline constexpr const char* kRetentionDeletedMessageId = "7446588fe3004d2aad15f35abe9236fb";

/// Lists `backend`, plans with policies::plan_retention and deletes what the plan names
/// (logging each deletion with its reason). A dump that cannot be deleted is logged and
/// skipped. Returns the deleted dumps.
Result<std::vector<StoredDump>> prune(const Backend& backend,
                                      const policies::RetentionPolicy& policy,
                                      policies::WallTime now, const Incoming& incoming = {});

/// The file system holding `dir`, as statvfs(3) reports it to an unprivileged writer.
Result<policies::StoreSpace> store_space(const std::string& dir);

} // namespace guestdump::store
