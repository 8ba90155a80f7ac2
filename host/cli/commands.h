#pragma once
// The guestdump subcommands. Each takes its arguments (after the command word) and returns the
// process exit code: 0 success, 1 operation failed, 2 usage error.

#include <string>
#include <vector>

namespace guestdump::cli {

int run_convert(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_verify(const std::vector<std::string>& args);
int run_dmesg(const std::vector<std::string>& args); // dmesg_command.cpp
int run_dump(const std::vector<std::string>& args);  // dump_command.cpp
int run_list(const std::vector<std::string>& args);  // dump_command.cpp

/// design.md §3: where dumps go unless -o says otherwise.
inline constexpr const char* kDefaultDumpDir = "/var/lib/guestdump/dumps";

/// Prints "guestdump: error: <message>" and returns 1.
int fail(const std::string& message);
/// Prints "guestdump: error: <message>" plus a usage hint and returns 2.
int usage_error(const std::string& message);

} // namespace guestdump::cli
