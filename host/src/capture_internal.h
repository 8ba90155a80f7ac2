#pragma once
// Pieces of a capture that every transport shares (private to host/).

#include <functional>
#include <string>

#include "guestdump/formats/stream_capture.h"
#include "guestdump/host/capture.h"

namespace guestdump::host::detail {

class LiveGuestMemory;

/// meta.json fields known before any byte arrives.
store::DumpMeta initial_meta(const CaptureOptions& opts, std::string domain, std::string uuid,
                             const char* path);
/// Options for SpooledDump::receive() reading `fd` into the pending dump's vmcore.
formats::StreamCaptureOptions stream_options(int fd, const store::PendingDump& pending,
                                             const CaptureOptions& opts, std::string name);
/// Phase 2 for any transport: filter, kernel log (dmesg.txt), write the vmcore; fills `meta`.
/// On failure the pending dump is turned into a failure record.
Result<bool> write_capture(formats::SpooledDump& spool, store::PendingDump& pending,
                           store::DumpMeta& meta, const CaptureOptions& opts);
/// The last step of a successful capture: the guest's states before and after go into
/// meta.json's extra, and the dump is renamed into place; `res.dir` names it.
Result<CaptureResult> commit_capture(store::PendingDump& pending, CaptureResult res,
                                     const std::string& guest);
/// Records `e` as the dump's failure (meta.json "failed: ...") and returns it.
/// True when `e` ended a capture because cancellation was requested (SIGTERM, Ctrl-C, the
/// daemon stopping): the automatic path choice must then not fall back to another capture.
bool was_cancelled(const Error& e);

Error record_failure(store::PendingDump& pending, store::DumpMeta& meta, Error e);

/// Runs `f` when it goes out of scope: resuming a guest we stopped, on every exit path.
class OnScopeExit {
public:
  explicit OnScopeExit(std::function<void()> f) : f_(std::move(f)) {}
  OnScopeExit(const OnScopeExit&) = delete;
  OnScopeExit& operator=(const OnScopeExit&) = delete;
  ~OnScopeExit() { f_(); }

private:
  std::function<void()> f_;
};

/// The selective capture once the guest is stopped and `live` (which must carry VMCOREINFO)
/// located: filter, kernel log, copy the kept pages, `resume` (which records the pause), then
/// compress and commit. `state_after` names the guest's state for meta.json at the end.
Result<CaptureResult> finish_selective(CaptureResult& res, const LiveGuestMemory& live,
                                       const store::DumpStore& store, const CaptureOptions& opts,
                                       const std::string& vmcoreinfo_source,
                                       const std::function<void()>& resume,
                                       const std::function<std::string()>& state_after);

} // namespace guestdump::host::detail
