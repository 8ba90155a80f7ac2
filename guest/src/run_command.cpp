// See run_command.h.

#include "guestdump/guest/run_command.h"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "guestdump/common/subprocess.h"

namespace guestdump::guest {

Result<void> run_command(const std::string& line, std::chrono::milliseconds timeout) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) return make_error(ErrorCode::kInvalidArgument, "empty command");
  auto ran = run_process(words, timeout);
  if (!ran) {
    if (ran.error().sys_errno == ENOENT)
      return make_error(ErrorCode::kNotFound, "'" + line + "': " + words[0] + " not found in PATH");
    return make_error(ran.error().code, "'" + line + "': " + ran.error().message);
  }
  const ProcessExit& ex = *ran;
  if (ex.timed_out)
    return make_error(
        ErrorCode::kTimeout,
        "'" + line + "' did not finish in " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
            " s; killed its process group");
  if (ex.signal)
    return make_error(ErrorCode::kOs, "'" + line + "' was killed by signal " +
                                          std::to_string(*ex.signal) + " (" +
                                          ::strsignal(*ex.signal) + ")");
  if (ex.code != 0)
    return make_error(ErrorCode::kOs,
                      "'" + line + "' exited with status " + std::to_string(ex.code));
  return {};
}

} // namespace guestdump::guest
