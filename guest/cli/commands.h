#pragma once
// The guestdump-guest subcommands. Each takes the arguments after its name and returns the
// process exit code: 0 success, 1 error (one line "guestdump-guest: error: ..." on stderr),
// 2 usage error.

#include <string>
#include <vector>

namespace guestdump::guest {

int run_detect(const std::vector<std::string>& args);
int run_plan(const std::vector<std::string>& args);
int run_apply(const std::vector<std::string>& args);
int run_load(const std::vector<std::string>& args);
int run_unload(const std::vector<std::string>& args);
int run_status(const std::vector<std::string>& args);
int run_capture(const std::vector<std::string>& args);
int run_initramfs(const std::vector<std::string>& args);
int run_upload(const std::vector<std::string>& args);

} // namespace guestdump::guest
