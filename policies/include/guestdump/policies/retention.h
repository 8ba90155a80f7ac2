#pragma once
// Retention of the dump store (design.md §3): which dump directories to delete.
//
// Rules, each dump deleted at most once, with the first reason that applies:
//   0. an incomplete dump with no running job (left by a daemon that died) is deleted;
//   1. `keep` N: per guest, only the N newest settled dumps stay;
//   2. `max-age`: settled dumps older than max-age (strictly) are deleted;
//   3. `max-total`: while the store's bytes plus `incoming_bytes` exceed max-total, the oldest
//      remaining settled dump of any guest is deleted.
// A dump marked `in_use` (being written, or incomplete and owned by a running job) is never
// deleted and never counted by rule 1, but its bytes count toward rule 3. "Settled" means
// complete or failed. Ages use the wall clock: a dump time in the future (clock set back) has
// age 0, so it is not deleted by age, and rules 1 and 3 still order it by its time.
// Order is by time, then guest, then id, so equal times give one answer on every run.

#include <cstdint>
#include <string>
#include <vector>

#include <guestdump/policies/config.h>

namespace guestdump::policies {

enum class DumpStatus { kComplete, kFailed, kIncomplete };

/// One dump directory of the store, as the host found it.
struct StoredDump {
  std::string guest; // the <domain-name> directory
  std::string id;    // the <timestamp> directory name (or ".<timestamp>.partial")
  WallTime time{};   // when the dump was taken
  std::uint64_t bytes = 0;
  DumpStatus status = DumpStatus::kComplete;
  bool in_use = false; // being written, or belongs to a running job
};

struct Deletion {
  StoredDump dump;
  std::string reason; // e.g. "keep=5: 5 newer dumps of 'web1'"
};

struct RetentionPlan {
  std::vector<Deletion> deletions; // oldest first
  std::uint64_t bytes_after = 0;   // store bytes once the deletions are done (without incoming)
  bool over_budget = false;        // max-total still exceeded: only in-use dumps are left
};

/// Plans deletions; `incoming_bytes` is space a dump about to be written will take (0 if none).
RetentionPlan plan_retention(const std::vector<StoredDump>& dumps, WallTime now,
                             const RetentionPolicy& policy, std::uint64_t incoming_bytes = 0);

} // namespace guestdump::policies
