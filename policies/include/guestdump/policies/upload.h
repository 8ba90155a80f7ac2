#pragma once
// Uploads of finished dumps to the remote store (design.md §3), as pure decisions:
//   - which dumps still need an upload (a complete dump whose meta.json does not say the upload is
//     complete, or that has a multipart state file left by an upload that was cut short);
//   - when a failed upload is tried again (doubling delays, capped);
//   - keep-local: once dumps are uploaded, only the newest N uploaded dumps of the host stay in
//     the local store. A dump whose upload is not confirmed (its meta.json's upload.state is not
//     "complete") is never deleted by this rule, nor counted by it; in-use dumps neither.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <guestdump/policies/config.h>
#include <guestdump/policies/retention.h>

namespace guestdump::policies {

/// One dump directory of the local store, as the upload rules see it.
struct LocalDump {
  std::string guest; // the <domain-name> directory
  std::string id;    // the <timestamp> directory name
  WallTime time{};   // when the dump was taken
  DumpStatus status = DumpStatus::kComplete;
  bool in_use = false;            // being written
  bool upload_confirmed = false;  // meta.json: upload.state == "complete"
  bool upload_state_file = false; // a multipart upload's state file is in the directory
};

/// Whether `dump` must be (re)queued for upload: complete, not in use, and either not confirmed
/// or holding a state file of an upload that did not finish.
bool needs_upload(const LocalDump& dump);

/// The delay before attempt `failures + 1` after `failures` failed attempts (≥ 1): `base`
/// doubled after each failure, at most `cap`.
Duration upload_retry_delay(std::uint32_t failures, Duration base, Duration cap);

/// keep-local: the uploaded dumps to delete so that only the `keep_local` newest uploaded dumps
/// stay (nullopt: keep all, nothing deleted). Oldest first; order by time, then guest, then id.
std::vector<Deletion> plan_keep_local(const std::vector<LocalDump>& dumps,
                                      std::optional<std::uint32_t> keep_local);

} // namespace guestdump::policies
