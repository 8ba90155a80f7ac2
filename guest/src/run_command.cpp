// See run_command.h.

#include "run_command.h"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace guestdump::guest {

Result<void> run_command(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) return make_error(ErrorCode::kInvalidArgument, "empty command");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
  if (rc == ENOENT)
    return make_error(ErrorCode::kNotFound, "'" + line + "': " + words[0] + " not found in PATH");
  if (rc != 0) return errno_error("run", "'" + line + "'", rc);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno_error("wait for", "'" + line + "'");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status))
    return make_error(ErrorCode::kOs,
                      "'" + line + "' exited with status " + std::to_string(WEXITSTATUS(status)));
  return make_error(ErrorCode::kOs, "'" + line + "' was killed by signal " +
                                        std::to_string(WTERMSIG(status)) + " (" +
                                        ::strsignal(WTERMSIG(status)) + ")");
}

} // namespace guestdump::guest
