#pragma once
// A guest we pause must not stay paused because we died. Every error path resumes it in-process
// (selective_capture.cpp); SIGKILL leaves no path at all, so before pausing we start a guard:
// this same executable (`guestdump --resume-guard SOCKET`, in a session of its own so a signal
// to our process group does not reach it) reading a pipe from us. We write 'P' once the guest is
// paused and 'R' once it runs again; on a clean end we write 'D'. When the pipe closes after a
// 'P' with no 'R' or 'D', we died mid-pause: the guard connects to QEMU's QMP socket (a server
// socket that serves one client, free again as our connection died with us) and, if QEMU still
// says "paused", sends `cont`. QEMU's own dump-guest-memory needs no guard: QEMU restores the
// run state itself when the stream breaks.

#include <chrono>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"

namespace guestdump::host {

class ResumeGuard {
public:
  /// Starts the guard for the QEMU behind `qmp_socket` (or the libvirt domain a
  /// libvirt_guard_target() names); `self_exe` is the executable that understands
  /// --resume-guard (the running guestdump or guestdumpd: /proc/self/exe).
  static Result<ResumeGuard> start(const std::string& qmp_socket,
                                   const std::string& self_exe = "/proc/self/exe");
  ResumeGuard(ResumeGuard&&) noexcept = default;
  ResumeGuard& operator=(ResumeGuard&&) noexcept = default;
  ~ResumeGuard(); // 'D': the guard exits without acting

  void paused();  // the guest is stopped by us
  void resumed(); // the guest runs again (or we gave it back on purpose)
  pid_t pid() const { return pid_; }

private:
  ResumeGuard(UniqueFd pipe, pid_t pid) : pipe_(std::move(pipe)), pid_(pid) {}
  void say(char c);
  UniqueFd pipe_;
  pid_t pid_ = -1;
};

/// A libvirt domain as a guard target (in place of a QMP socket): the guard resumes it through
/// libvirt if it is still paused by a user (our virDomainSuspend).
inline constexpr std::string_view kLibvirtGuardPrefix = "libvirt:";
std::string libvirt_guard_target(const std::string& uri, const std::string& uuid);

/// Resumes libvirt domain `uuid` on `uri` over a connection of its own if it is still paused by
/// a user (our virDomainSuspend; not a panic, an I/O error or a migration), waiting up to
/// `patience` for a libvirtd that is restarting. True: resumed; false: not paused by us (any
/// more); an error when libvirt stays unreachable, the domain is gone or the resume fails.
Result<bool> resume_paused_libvirt_domain(const std::string& uri, const std::string& uuid,
                                          std::chrono::seconds patience);

/// The guard's side: reads `in` until it closes, then acts as described above. Returns the
/// process exit code.
int run_resume_guard(int in, const std::string& qmp_socket);

} // namespace guestdump::host
