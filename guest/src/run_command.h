#pragma once
// Runs the follow-up commands `apply` decides on (update-grub, grubby, kdumpctl restart ...):
// our own fixed command lines, split on spaces, no shell.

#include <string>

#include "guestdump/common/result.h"

namespace guestdump::guest {

/// Runs `line` (words separated by single spaces, looked up in PATH) with our stdout and stderr
/// and waits for it. Errors name the command: not found, exit status, or signal.
Result<void> run_command(const std::string& line);

} // namespace guestdump::guest
