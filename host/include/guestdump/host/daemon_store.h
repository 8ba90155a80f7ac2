#pragma once
// What guestdumpd keeps in, and reads back from, the dump store: the crash mark of each dump
// (so a restarted daemon does not dump the same crash again), the retention inputs, and the
// post-dump hook.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <guestdump/common/result.h>
#include <guestdump/host/dump_store.h>
#include <guestdump/host/job_queue.h>
#include <guestdump/policies/retention.h>

namespace guestdump::host {

/// Adds {"daemon": {"uri", "domain_id", "vcpu_time_ns"}} to meta.json of the committed dump in
/// `dir` (atomic rewrite, mode 0600).
Result<void> record_crash_mark(const std::string& dir, const std::string& uri,
                               const CrashMark& mark);

/// The crash mark of the newest dump of each guest, keyed "URI UUID", from meta.json files
/// that have one.
std::map<std::string, CrashMark> crash_marks(const std::vector<StoredDump>& dumps);

/// Start times of the dumps of each guest (by UUID), for the crash-loop limiter.
std::map<std::string, std::vector<std::int64_t>> dump_times(const std::vector<StoredDump>& dumps);

/// The store as the retention policy sees it. Partial directories of `busy_domains` (a job of
/// that domain is running) are in use; other partial directories are incomplete leftovers.
std::vector<policies::StoredDump> retention_view(const std::vector<StoredDump>& dumps,
                                                 const std::set<std::string>& busy_domains);

/// Proves that `dir` takes a new file (creates and removes a probe); the error names the path.
/// access(2) is not enough: it says yes to root on read-only mounts.
Result<void> check_store_writable(const std::string& dir);

/// Runs `hook` through /bin/sh with `dir` as its first argument ("$1"), waits, and returns its
/// exit status (an error if it could not be started or was killed).
Result<int> run_post_hook(const std::string& hook, const std::string& dir);

} // namespace guestdump::host
