// guestdump: convert, inspect and verify guest kernel dumps.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/host/resume_guard.h"

namespace {

constexpr const char* kUsage =
    "usage: guestdump <command> [options]\n"
    "\n"
    "commands:\n"
    "  convert [-d LEVEL] [-c CODEC] [-j THREADS] [--flattened] INPUT OUTPUT\n"
    "                     ELF core or kdump file -> kdump-compressed file (OUTPUT '-' = stdout)\n"
    "  info [--json] [--stats] FILE\n"
    "                     describe a dump file (FILE may be s3://BUCKET/KEY, read in place)\n"
    "  verify FILE [--against SOURCE]\n"
    "                     check a kdump file's structure; with SOURCE, compare every page\n"
    "  dmesg FILE [-o OUT] [--stats]\n"
    "                     the guest kernel log, as makedumpfile --dump-dmesg prints it\n"
    "                     (FILE may be s3://BUCKET/KEY, read in place)\n"
    "  dmesg DOMAIN [-c URI] [-f] | dmesg --qmp SOCKET [-f]\n"
    "                     the same, live, from a running guest (-f: follow)\n"
    "  dump --qmp SOCKET [-o DIR] [-d LEVEL] [-c CODEC]\n"
    "                     capture a running, hung or crashed guest into the dump store\n"
    "  list [-o DIR] [DOMAIN]\n"
    "                     dumps in the store, newest first\n"
    "  list --store s3://BUCKET/PREFIX [--host H] [--domain D] [--trigger T]\n"
    "       [--since TIME] [--until TIME] [--json]\n"
    "                     dumps of every host in the remote store, newest first\n"
    "  fetch s3://BUCKET/.../TIMESTAMP/ DIR\n"
    "                     download a remote dump into DIR/TIMESTAMP, checking its SHA-256\n"
    "\n"
    "Run 'guestdump <command> --help' for a command's options.\n";

void on_signal(int) {
  guestdump::request_cancel();
}

} // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
      std::fputs(kUsage, args.empty() ? stderr : stdout);
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--resume-guard" && args.size() == 2) {
      // Internal: started by the selective capture path (host/resume_guard.h).
      return guestdump::host::run_resume_guard(0, args[1]);
    }
    if (args[0] == "--version") {
      std::puts("guestdump " GUESTDUMP_VERSION);
      return 0;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A peer that goes away (libvirtd restarted mid-capture, QEMU killed, a reader of our
    // output that quits) must be an error we handle, resuming a guest we paused, not a death
    // by SIGPIPE: writes fail with EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    if (std::getenv("GUESTDUMP_DEBUG") != nullptr)
      guestdump::set_log_level(guestdump::LogLevel::kDebug);
    guestdump::set_log_sink([](guestdump::LogLevel level, std::string_view, std::string_view text) {
      std::fprintf(stderr, "guestdump: %.*s: %.*s\n",
                   static_cast<int>(guestdump::log_level_name(level).size()),
                   guestdump::log_level_name(level).data(), static_cast<int>(text.size()),
                   text.data());
    });
    std::string cmd = args[0];
    args.erase(args.begin());
    if (cmd == "convert") return guestdump::cli::run_convert(args);
    if (cmd == "info") return guestdump::cli::run_info(args);
    if (cmd == "verify") return guestdump::cli::run_verify(args);
    if (cmd == "dmesg") return guestdump::cli::run_dmesg(args);
    if (cmd == "dump") return guestdump::cli::run_dump(args);
    if (cmd == "list") return guestdump::cli::run_list(args);
    if (cmd == "fetch") return guestdump::cli::run_fetch(args);
    return guestdump::cli::usage_error("unknown command '" + cmd + "'");
  } catch (const std::exception& e) {
    return guestdump::cli::fail(std::string("unexpected: ") + e.what());
  }
}
