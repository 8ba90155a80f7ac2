#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <tuple>

#include "text.h"
#include <guestdump/common/text.h>
#include <guestdump/policies/retention.h>

namespace guestdump::policies {
namespace {

bool older(const StoredDump& a, const StoredDump& b) {
  return std::tie(a.time, a.guest, a.id) < std::tie(b.time, b.guest, b.id);
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

} // namespace

RetentionPlan plan_retention(const std::vector<StoredDump>& dumps, WallTime now,
                             const RetentionPolicy& policy, std::uint64_t incoming_bytes) {
  // Work on indices into a sorted copy; `reason[i]` empty means "kept so far".
  std::vector<StoredDump> sorted = dumps;
  std::sort(sorted.begin(), sorted.end(), older);
  std::vector<std::string> reason(sorted.size());

  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (!sorted[i].in_use && sorted[i].status == DumpStatus::kIncomplete) {
      reason[i] = "incomplete dump with no running job";
    }
  }

  if (policy.keep > 0) {
    // Walk newest first; each guest's settled dumps beyond the first `keep` go.
    std::map<std::string, std::uint32_t> seen;
    for (std::size_t k = sorted.size(); k-- > 0;) {
      const StoredDump& d = sorted[k];
      if (d.in_use || d.status == DumpStatus::kIncomplete) continue;
      const std::uint32_t newer = seen[d.guest]++;
      if (newer >= policy.keep && reason[k].empty()) {
        reason[k] = "keep=" + std::to_string(policy.keep) + ": " + std::to_string(newer) +
                    " newer dumps of '" + d.guest + "'";
      }
    }
  }

  if (policy.max_age > Duration::zero()) {
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const StoredDump& d = sorted[i];
      if (d.in_use || !reason[i].empty()) continue;
      const Duration age = d.time < now ? now - d.time : Duration::zero();
      if (age > policy.max_age) {
        reason[i] = "older than max-age " + detail::format_duration(policy.max_age) + " (age " +
                    detail::format_duration(age) + ")";
      }
    }
  }

  std::uint64_t total = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (reason[i].empty()) total = saturating_add(total, sorted[i].bytes);
  }
  RetentionPlan plan;
  if (policy.max_total_bytes > 0) {
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (saturating_add(total, incoming_bytes) <= policy.max_total_bytes) break;
      if (sorted[i].in_use || !reason[i].empty()) continue;
      reason[i] = "store over max-total " + format_bytes(policy.max_total_bytes) + " (" +
                  format_bytes(saturating_add(total, incoming_bytes)) +
                  (incoming_bytes > 0 ? " with the next dump)" : ")");
      total -= sorted[i].bytes;
    }
    plan.over_budget = saturating_add(total, incoming_bytes) > policy.max_total_bytes;
  }
  plan.bytes_after = total;

  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (!reason[i].empty()) plan.deletions.push_back({sorted[i], std::move(reason[i])});
  }
  return plan;
}

} // namespace guestdump::policies
