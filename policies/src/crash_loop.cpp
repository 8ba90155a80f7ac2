#include <algorithm>

#include "text.h"
#include <guestdump/policies/crash_loop.h>

namespace guestdump::policies {

Duration CrashLoopLimiter::advance(WallTime now) {
  if (started_ && now > last_wall_) timeline_ += now - last_wall_;
  // A step backwards adds nothing, and the new reading becomes the reference, so the time
  // after the jump counts normally.
  last_wall_ = now;
  started_ = true;
  return timeline_;
}

void CrashLoopLimiter::prune(std::vector<Duration>& times) const {
  std::erase_if(times, [&](Duration t) { return timeline_ - t >= policy_.window; });
  // Only the newest `dumps` matter for the decision.
  const std::size_t keep = std::max<std::size_t>(policy_.dumps, 1);
  if (times.size() > keep) times.erase(times.begin(), times.end() - static_cast<long>(keep));
}

void CrashLoopLimiter::seed(const std::string& guest, const std::vector<WallTime>& dump_times,
                            WallTime now) {
  const Duration t_now = advance(now);
  std::vector<Duration>& times = history_[guest];
  for (const WallTime t : dump_times) {
    const Duration age = t < now ? now - t : Duration::zero();
    times.push_back(t_now - age);
  }
  std::sort(times.begin(), times.end());
  prune(times);
}

std::size_t CrashLoopLimiter::count(const std::string& guest) const {
  const auto it = history_.find(guest);
  return it == history_.end() ? 0 : it->second.size();
}

CrashLoopDecision CrashLoopLimiter::admit(const std::string& guest, WallTime now) {
  const Duration t_now = advance(now);
  std::vector<Duration>& times = history_[guest];
  prune(times);
  CrashLoopDecision out;
  const std::string window = detail::format_duration(policy_.window);
  if (policy_.dumps == 0) {
    out.dump = true;
    out.reason = "crash-loop limit off";
    times.push_back(t_now);
    prune(times);
    return out;
  }
  if (times.size() < policy_.dumps) {
    out.dump = true;
    out.reason = "dump " + std::to_string(times.size() + 1) + " of at most " +
                 std::to_string(policy_.dumps) + " within " + window;
    times.push_back(t_now);
    return out;
  }
  out.dump = false;
  out.retry_after = times.front() + policy_.window - t_now;
  out.reason = "crash loop: " + std::to_string(times.size()) + " dumps of '" + guest + "' within " +
               window + " (crash-loop-dumps=" + std::to_string(policy_.dumps) +
               "); recording the crash without a dump for the next " +
               detail::format_duration(out.retry_after);
  return out;
}

} // namespace guestdump::policies
