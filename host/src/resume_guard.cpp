// Resumes a guest we paused if we die while it is paused; see resume_guard.h.

#include "guestdump/host/resume_guard.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/qmp/client.h"
#include "guestdump/qmp/commands.h"
#include "libvirt_api.h"

extern char** environ;

namespace guestdump::host {

Result<ResumeGuard> ResumeGuard::start(const std::string& qmp_socket, const std::string& self_exe) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return errno_error("create pipe for the resume guard of", qmp_socket);
  UniqueFd rd(fds[0]);
  UniqueFd wr(fds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, rd.get(), STDIN_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own session: Ctrl-C or a kill of our process group must not take the guard with us.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  const char* argv[] = {self_exe.c_str(), "--resume-guard", qmp_socket.c_str(), nullptr};
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, self_exe.c_str(), &fa, &attr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_error("start the resume guard", self_exe, rc);
  return ResumeGuard(std::move(wr), pid);
}

ResumeGuard::~ResumeGuard() {
  if (!pipe_.valid()) return;
  say('D');
  pipe_.reset();
  // Reap it: it exits as soon as it reads 'D' and the end of the pipe.
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void ResumeGuard::say(char c) {
  if (!pipe_.valid()) return;
  while (::write(pipe_.get(), &c, 1) < 0 && errno == EINTR) {
  }
}

void ResumeGuard::paused() {
  say('P');
}

void ResumeGuard::resumed() {
  say('R');
}

std::string libvirt_guard_target(const std::string& uri, const std::string& uuid) {
  return std::string(kLibvirtGuardPrefix) + uuid + "@" + uri;
}

Result<bool> resume_paused_libvirt_domain(const std::string& uri, const std::string& uuid,
                                          std::chrono::seconds patience) {
  GUESTDUMP_CHECK(load_libvirt());
  const auto deadline = std::chrono::steady_clock::now() + patience;
  LibvirtConnection conn(lv().virConnectOpen(uri.c_str()));
  // A libvirtd that is restarting refuses connections for a few seconds.
  while (!conn && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    conn.reset(lv().virConnectOpen(uri.c_str()));
  }
  if (!conn) {
    return make_error(ErrorCode::kOs, "libvirt is not reachable: " + libvirt_last_error());
  }
  LibvirtDomain dom(lv().virDomainLookupByUUIDString(conn.get(), uuid.c_str()));
  if (!dom) return make_error(ErrorCode::kNotFound, "it is gone: " + libvirt_last_error());
  int state = 0;
  int reason = 0;
  if (lv().virDomainGetState(dom.get(), &state, &reason, 0) != 0) {
    return make_error(ErrorCode::kOs, "its state is unknown: " + libvirt_last_error());
  }
  if (state != VIR_DOMAIN_PAUSED || reason != VIR_DOMAIN_PAUSED_USER) return false;
  if (lv().virDomainResume(dom.get()) != 0) {
    return make_error(ErrorCode::kOs, "resume failed: " + libvirt_last_error());
  }
  return true;
}

namespace {

// The libvirt half of the guard: resume the domain only if it is still paused by a user
// (virDomainSuspend, ours), not paused for a panic, an I/O error or a migration.
int resume_libvirt(const std::string& target) {
  const std::string rest = target.substr(kLibvirtGuardPrefix.size());
  const auto at = rest.find('@');
  const std::string uuid = rest.substr(0, at);
  const std::string uri = at == std::string::npos ? "" : rest.substr(at + 1);
  const std::string where = "domain " + escape_text(uuid) + " on " + escape_text(uri);
  auto resumed = resume_paused_libvirt_domain(uri, uuid, std::chrono::seconds(30));
  if (!resumed) {
    std::fprintf(stderr, "guestdump: resume guard: the capture ended while %s was paused, and %s\n",
                 where.c_str(), escape_text(resumed.error().message).c_str());
    return 1;
  }
  if (*resumed) {
    std::fprintf(stderr,
                 "guestdump: resume guard: the capture ended while %s was paused; resumed it\n",
                 where.c_str());
  }
  return 0;
}

} // namespace

int run_resume_guard(int in, const std::string& qmp_socket) {
  char state = 0;
  char buf[64];
  for (;;) {
    const ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == 'P' || buf[i] == 'R' || buf[i] == 'D') state = buf[i];
    }
  }
  if (state != 'P') return 0;
  if (qmp_socket.starts_with(kLibvirtGuardPrefix)) return resume_libvirt(qmp_socket);
  const std::string sock = escape_text(qmp_socket);
  // Our QMP connection closed when the capturing process died; QEMU takes the next client.
  auto client = qmp::Client::connect(qmp_socket, std::chrono::seconds(30));
  if (!client) {
    std::fprintf(stderr,
                 "guestdump: resume guard: the capture ended while the guest behind %s was "
                 "paused, and QMP is not reachable: %s\n",
                 sock.c_str(), escape_text(client.error().message).c_str());
    return 1;
  }
  auto status = qmp::query_status(**client);
  if (!status) {
    std::fprintf(stderr, "guestdump: resume guard: %s: %s\n", sock.c_str(),
                 escape_text(status.error().message).c_str());
    return 1;
  }
  // Only the state we left it in: a guest that panicked meanwhile, or that someone else
  // resumed or shut down, is not ours to change.
  if (status->status != "paused") return 0;
  if (auto r = qmp::cont(**client); !r) {
    std::fprintf(stderr, "guestdump: resume guard: %s: %s\n", sock.c_str(),
                 escape_text(r.error().message).c_str());
    return 1;
  }
  std::fprintf(stderr,
               "guestdump: resume guard: the capture ended while the guest behind %s was paused; "
               "resumed it\n",
               sock.c_str());
  return 0;
}

} // namespace guestdump::host
