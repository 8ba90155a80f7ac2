#pragma once
// Child processes with a deadline. A child runs in a process group of its own, so a timeout
// kills everything it started (a hook's shell and its pipeline), not just the first process.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump {

struct ProcessExit {
  int code = 0;              // exit status when the child exited
  std::optional<int> signal; // the signal that ended it, when one did
  bool timed_out = false;    // we killed it at the deadline
};

/// Runs argv[0] (searched in PATH when it has no '/') with `argv`, standard input from
/// /dev/null, standard output and error inherited, in a new process group. Waits at most
/// `timeout`; then sends SIGTERM to the group, and SIGKILL 2 s later, and reports timed_out.
/// An error only when the child could not be started or waited for; the error names argv[0].
Result<ProcessExit> run_process(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout);

/// Where a child's standard streams go: a path each (opened by the child: stdin read-only,
/// stdout and stderr created or truncated with mode 0600), or "" for the default (stdin from
/// /dev/null, stdout and stderr inherited).
struct ProcessIo {
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
};

/// run_process() with the standard streams of `io`.
Result<ProcessExit> run_process(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout, const ProcessIo& io);

} // namespace guestdump
