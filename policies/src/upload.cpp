#include <algorithm>
#include <tuple>

#include <guestdump/policies/upload.h>

namespace guestdump::policies {

bool needs_upload(const LocalDump& dump) {
  if (dump.in_use || dump.status != DumpStatus::kComplete) return false;
  return !dump.upload_confirmed || dump.upload_state_file;
}

Duration upload_retry_delay(std::uint32_t failures, Duration base, Duration cap) {
  if (base <= Duration::zero()) return Duration::zero();
  Duration d = base;
  // Doubling stops at the cap (and long before an overflow).
  for (std::uint32_t i = 1; i < failures && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

std::vector<Deletion> plan_keep_local(const std::vector<LocalDump>& dumps,
                                      std::optional<std::uint32_t> keep_local) {
  std::vector<Deletion> out;
  if (!keep_local) return out;
  std::vector<const LocalDump*> uploaded;
  for (const LocalDump& d : dumps) {
    // Only a confirmed upload with no upload left half-done counts as "in the remote store".
    if (d.in_use || !d.upload_confirmed || d.upload_state_file) continue;
    if (d.status != DumpStatus::kComplete) continue;
    uploaded.push_back(&d);
  }
  std::sort(uploaded.begin(), uploaded.end(), [](const LocalDump* a, const LocalDump* b) {
    return std::tie(a->time, a->guest, a->id) > std::tie(b->time, b->guest, b->id);
  });
  for (std::size_t i = *keep_local; i < uploaded.size(); ++i) {
    const LocalDump& d = *uploaded[i];
    Deletion del;
    del.dump.guest = d.guest;
    del.dump.id = d.id;
    del.dump.time = d.time;
    del.dump.status = d.status;
    del.reason = "keep-local=" + std::to_string(*keep_local) + ": uploaded, and " +
                 std::to_string(i) + " newer uploaded dump(s) stay local";
    out.push_back(std::move(del));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

} // namespace guestdump::policies
