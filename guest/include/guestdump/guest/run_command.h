#pragma once
// Runs the follow-up commands `apply` decides on (update-grub, grubby, kdumpctl restart ...):
// our own fixed command lines, split on spaces, no shell.

#include <chrono>
#include <string>

#include "guestdump/common/result.h"

namespace guestdump::guest {

/// Runs `line` (words separated by single spaces, looked up in PATH) through run_process()
/// (common/subprocess.h: standard input from /dev/null, our stdout and stderr, a process group of
/// its own) and waits at most `timeout`, then kills the group. Errors name the command: not
/// found, exit status, signal or timeout.
Result<void> run_command(const std::string& line, std::chrono::milliseconds timeout);

} // namespace guestdump::guest
