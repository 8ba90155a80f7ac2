#pragma once
// Crash-loop limit: at most `crash-loop-dumps` dumps per guest within `crash-loop-window`;
// beyond that a crash is only recorded.
//
// The window slides over the limiter's own timeline, which advances by the wall-clock time
// between calls but never backwards: a clock set back counts as no time passing (it neither
// frees slots early nor keeps them blocked until the clock catches up), and a clock set forward
// counts as the time it claims (calls only come with crashes, so long gaps are normal and
// cannot be told from a jump). A dump whose age equals the window has left it.
// Only dumps count: recorded-only crashes do not extend a lockout. Per guest at most
// `dumps` times are kept, so memory stays bounded.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <guestdump/policies/config.h>

namespace guestdump::policies {

struct CrashLoopDecision {
  bool dump = false;      // false: record the crash only
  Duration retry_after{}; // when refused: time until the oldest counted dump leaves the window
  std::string reason;
};

class CrashLoopLimiter {
public:
  explicit CrashLoopLimiter(CrashLoopPolicy policy) : policy_(policy) {}

  /// Decides for a crash of `guest` (keyed by UUID) at `now`; an allowed dump is counted.
  CrashLoopDecision admit(const std::string& guest, WallTime now);

  /// Seeds a guest's history with earlier dump times (from the store after a restart). Times
  /// in the future of `now` are taken as `now`. Call before any admit() for that guest.
  void seed(const std::string& guest, const std::vector<WallTime>& dump_times, WallTime now);

  /// Drops a guest's history (the guest was undefined).
  void forget(const std::string& guest) { history_.erase(guest); }

  /// Replaces the policy (configuration reload); history is kept.
  void set_policy(CrashLoopPolicy policy) { policy_ = policy; }

  /// Counted dumps of `guest` still in the window at the last call.
  std::size_t count(const std::string& guest) const;

private:
  Duration advance(WallTime now);
  void prune(std::vector<Duration>& times) const;

  CrashLoopPolicy policy_;
  bool started_ = false;
  WallTime last_wall_{};
  Duration timeline_{0}; // monotonic: sum of non-negative wall-clock steps
  std::map<std::string, std::vector<Duration>> history_; // per guest, oldest first
};

} // namespace guestdump::policies
