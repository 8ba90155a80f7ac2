// guestdump-guest: prepares a Linux guest for crash dumps (detect, plan, apply, load) and, in
// the capture kernel, writes the dump. One statically linked binary; see docs/guest.md.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "guestdump/common/log.h"
#include "guestdump/guest/capture.h"

namespace {

using guestdump::guest::cli::fail;
using guestdump::guest::cli::usage_error;

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
  const char* help;
};

// One row per subcommand; `guestdump-guest --help` prints them in this order.
constexpr Command kCommands[] = {
    {"detect", guestdump::guest::run_detect,
     "hypervisor, firmware, kernel, memory and kdump state of this system"},
    {"plan", guestdump::guest::run_plan,
     "crashkernel size, capture command line and panic settings, each with its reason"},
    {"apply", guestdump::guest::run_apply,
     "write the plan to the distro kdump config or install the standalone unit"},
    {"load", guestdump::guest::run_load, "load the capture kernel (kexec_file_load on crash)"},
    {"unload", guestdump::guest::run_unload, "unload the capture kernel"},
    {"status", guestdump::guest::run_status, "crashkernel reservation and capture kernel state"},
    {"capture", guestdump::guest::run_capture,
     "in the capture kernel: save the kernel log and the filtered dump, then reboot"},
    {"initramfs", guestdump::guest::run_initramfs,
     "build the standalone capture initramfs (this binary as /init plus storage modules)"},
    {"upload", guestdump::guest::run_upload,
     "after a crash: copy the saved dumps to the S3 or SSH store, then apply keep-local"},
};

void print_usage(std::FILE* out) {
  std::fputs("usage: guestdump-guest <command> [options]\n\ncommands:\n", out);
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fputs("\nRun 'guestdump-guest <command> --help' for a command's options.\n", out);
}

} // namespace

int main(int argc, char** argv) {
  try {
    // As /init of the capture initramfs: mount, load modules, capture, reboot.
    if (::getpid() == 1) return guestdump::guest::run_capture_init();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
      print_usage(args.empty() ? stderr : stdout);
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
      std::puts("guestdump-guest " GUESTDUMP_VERSION);
      return 0;
    }
    if (std::getenv("GUESTDUMP_DEBUG") != nullptr)
      guestdump::set_log_level(guestdump::LogLevel::kDebug);
    guestdump::set_log_sink([](guestdump::LogLevel level, std::string_view, std::string_view text) {
      std::fprintf(stderr, "guestdump-guest: %.*s: %.*s\n",
                   static_cast<int>(guestdump::log_level_name(level).size()),
                   guestdump::log_level_name(level).data(), static_cast<int>(text.size()),
                   text.data());
    });
    std::string name = args[0];
    args.erase(args.begin());
    for (const Command& c : kCommands)
      if (name == c.name) return c.run(args);
    return usage_error("unknown command '" + name + "'");
  } catch (const std::exception& e) {
    return fail(std::string("unexpected: ") + e.what());
  }
}
