#include "guestdump/common/subprocess.h"

#include <cerrno>
#include <csignal>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace guestdump {
namespace {

using Clock = std::chrono::steady_clock;

/// waitpid() until the child ends or `deadline`; true when it ended (status filled in).
Result<bool> wait_until(pid_t pid, Clock::time_point deadline, int* status,
                        const std::string& what) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return errno_error("wait for", what);
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

} // namespace

Result<ProcessExit> run_process(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout) {
  return run_process(argv, timeout, ProcessIo{});
}

Result<ProcessExit> run_process(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout, const ProcessIo& io) {
  if (argv.empty()) return make_error(ErrorCode::kInvalidArgument, "no command to run");
  const std::string& what = argv[0];
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string in = io.stdin_path.empty() ? std::string("/dev/null") : io.stdin_path;
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, in.c_str(), O_RDONLY, 0);
  constexpr int kOutFlags = O_WRONLY | O_CREAT | O_TRUNC;
  if (!io.stdout_path.empty())
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, io.stdout_path.c_str(), kOutFlags, 0600);
  if (!io.stderr_path.empty())
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, io.stderr_path.c_str(), kOutFlags, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  // Our signal mask and handlers are not the child's business.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, what.c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_error("start", what, rc);

  ProcessExit out;
  int status = 0;
  GUESTDUMP_TRY(bool ended, wait_until(pid, Clock::now() + timeout, &status, what));
  if (!ended) {
    out.timed_out = true;
    ::kill(-pid, SIGTERM);
    GUESTDUMP_TRY(ended, wait_until(pid, Clock::now() + std::chrono::seconds(2), &status, what));
    if (!ended) {
      ::kill(-pid, SIGKILL);
      GUESTDUMP_TRY(ended, wait_until(pid, Clock::time_point::max(), &status, what));
    }
  }
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  if (WIFEXITED(status)) out.code = WEXITSTATUS(status);
  return out;
}

} // namespace guestdump
