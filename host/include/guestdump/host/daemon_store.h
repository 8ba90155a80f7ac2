#pragma once
// What guestdumpd keeps in, and reads back from, the dump store: the crash mark of each dump
// (so a restarted daemon does not dump the same crash again), the crash-loop inputs, and the
// post-dump hook.

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <guestdump/common/result.h>
#include <guestdump/host/job_queue.h>
#include <guestdump/policies/upload.h>
#include <guestdump/store/dump_store.h>

namespace guestdump::host {

/// meta.json's "daemon" member for a dump of the crash `mark` on `uri`
/// ({"uri", "domain_id", "vcpu_time_ns"}); CaptureOptions::daemon_record.
nlohmann::json crash_record(const std::string& uri, const CrashMark& mark);

/// The crash mark of the newest dump of each guest, keyed "URI UUID", from meta.json files
/// that have one.
std::map<std::string, CrashMark> crash_marks(const std::vector<store::StoredDump>& dumps);

/// Start times of the dumps of each guest (by UUID), for the crash-loop limiter.
std::map<std::string, std::vector<std::int64_t>>
dump_times(const std::vector<store::StoredDump>& dumps);

/// The store's dumps as the upload rules see them (policies/upload.h), in the order of `dumps`:
/// upload confirmed when meta.json's upload.state is "complete", and whether a multipart state
/// file (".vmcore.upload", ".dmesg.txt.upload") is in the directory.
std::vector<policies::LocalDump> upload_view(const std::vector<store::StoredDump>& dumps);

/// Proves that `dir` takes a new file (creates and removes a probe); the error names the path.
/// access(2) is not enough: it says yes to root on read-only mounts.
Result<void> check_store_writable(const std::string& dir);

/// Runs `hook` through /bin/sh with `dir` as its first argument ("$1") in a process group of its
/// own, waits at most `timeout` (then kills the whole group), and returns its exit status (an
/// error if it could not be started, timed out or was killed).
Result<int> run_post_hook(const std::string& hook, const std::string& dir,
                          std::chrono::milliseconds timeout);

} // namespace guestdump::host
