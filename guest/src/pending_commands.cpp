// Placeholder definitions so the skeleton links; each is replaced by its real implementation
// (detect_command.cpp, plan_command.cpp, ...) and this file is then deleted.

#include "cli.h"
#include "commands.h"

namespace guestdump::guest {

int run_detect(const std::vector<std::string>&) {
  return cli::fail("detect: not implemented yet");
}
int run_plan(const std::vector<std::string>&) {
  return cli::fail("plan: not implemented yet");
}
int run_apply(const std::vector<std::string>&) {
  return cli::fail("apply: not implemented yet");
}
int run_load(const std::vector<std::string>&) {
  return cli::fail("load: not implemented yet");
}
int run_unload(const std::vector<std::string>&) {
  return cli::fail("unload: not implemented yet");
}
int run_status(const std::vector<std::string>&) {
  return cli::fail("status: not implemented yet");
}

} // namespace guestdump::guest
