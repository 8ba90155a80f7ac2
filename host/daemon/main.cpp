// guestdumpd: watches libvirt guests and captures their crashes (design.md §2).
// Thin main: options -> DaemonConfig -> Daemon; signals are taken synchronously here.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/host/daemon.h"
#include "guestdump/host/daemon_config.h"
#include "guestdump/host/daemon_events.h"
#include "guestdump/host/daemon_store.h"
#include "guestdump/host/resume_guard.h"

namespace {

bool g_journal = false; // stderr is connected to the journal (JOURNAL_STREAM names it)

int priority_of(guestdump::LogLevel level) {
  // syslog priorities: error 3, warning 4, info 6, debug 7.
  return level == guestdump::LogLevel::kError  ? 3
         : level == guestdump::LogLevel::kWarn ? 4
         : level == guestdump::LogLevel::kInfo ? 6
                                               : 7;
}

void stderr_line(guestdump::LogLevel level, std::string_view component, std::string_view text) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (g_journal) {
    std::fprintf(stderr, "<%d>%.*s: %.*s\n", priority_of(level), static_cast<int>(component.size()),
                 component.data(), static_cast<int>(text.size()), text.data());
  } else {
    const std::string_view lv = guestdump::log_level_name(level);
    std::fprintf(stderr, "guestdumpd: %.*s: %.*s: %.*s\n", static_cast<int>(lv.size()), lv.data(),
                 static_cast<int>(component.size()), component.data(),
                 static_cast<int>(text.size()), text.data());
  }
  std::fflush(stderr);
}

// With stderr on the journal and journald listening, every line is a journal entry with its
// fields (MESSAGE_ID, GUESTDUMP_DOMAIN, ...: `journalctl GUESTDUMP_DOMAIN=web1`); if the
// journal refuses one, the line goes to stderr, which systemd also hands to the journal.
void journal_entry(guestdump::LogLevel level, std::string_view component, std::string_view text,
                   std::span<const guestdump::LogField> fields) {
  std::vector<std::string> items;
  items.reserve(fields.size() + 4);
  items.push_back("MESSAGE=" + std::string(component) + ": " + std::string(text));
  items.push_back("PRIORITY=" + std::to_string(priority_of(level)));
  items.push_back("SYSLOG_IDENTIFIER=guestdumpd");
  items.push_back("GUESTDUMP_COMPONENT=" + std::string(component));
  for (const guestdump::LogField& f : fields) items.push_back(f.key + "=" + f.value);
  std::vector<iovec> iov;
  iov.reserve(items.size());
  for (std::string& i : items) iov.push_back({i.data(), i.size()});
  if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0) {
    stderr_line(level, component, text);
  }
}

// systemd sets JOURNAL_STREAM to the device and inode of the stream it connected to the
// journal; stderr is the journal only when they are stderr's (systemd.exec(5)): a variable
// inherited by a child whose stderr was redirected does not count.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == static_cast<dev_t>(dev) && st.st_ino == static_cast<ino_t>(ino);
}

void install_log_sink() {
  g_journal = stderr_is_journal();
  guestdump::set_log_sink(stderr_line);
  // Native entries (with fields) only when journald listens: sd_journal_sendv() drops entries
  // silently when its socket is missing, and nothing would be logged at all.
  if (g_journal && ::access("/run/systemd/journal/socket", W_OK) == 0) {
    guestdump::set_log_fields_sink(journal_entry);
  }
}

guestdump::LogLevel level_of(const std::string& name) {
  if (name == "debug") return guestdump::LogLevel::kDebug;
  if (name == "warn") return guestdump::LogLevel::kWarn;
  if (name == "error") return guestdump::LogLevel::kError;
  return guestdump::LogLevel::kInfo;
}

// systemd's readiness protocol (Type=notify); a no-op when NOTIFY_SOCKET is not set.
void notify(const char* state) {
  (void)sd_notify(0, state);
}

int error_line(const std::string& text, int code) {
  std::fprintf(stderr, "guestdumpd: error: %s\n", guestdump::escape_text(text).c_str());
  return code;
}

// --check-config: the store must be usable; a missing one is created and removed again, an
// existing one must take a new file (access(2) says yes to root on read-only mounts).
std::string store_problem(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      return "dump-dir '" + dir + "': cannot be created: " + std::strerror(errno);
    }
    ::rmdir(dir.c_str());
    return {};
  }
  if (!S_ISDIR(st.st_mode)) return "dump-dir '" + dir + "': not a directory";
  if (auto r = guestdump::host::check_store_writable(dir); !r) return r.error().message;
  return {};
}

} // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 2 && args[0] == "--resume-guard") {
      // Internal: started by the selective capture of a libvirt domain (host/resume_guard.h).
      return guestdump::host::run_resume_guard(0, args[1]);
    }
    auto parsed = guestdump::host::parse_daemon_command_line(args);
    if (!parsed) return error_line(parsed.error().message, 2);
    if (parsed->help) {
      std::fputs(guestdump::host::daemon_usage().c_str(), stdout);
      return 0;
    }
    if (parsed->version) {
      std::puts("guestdumpd " GUESTDUMP_VERSION);
      return 0;
    }
    if (parsed->check_config) {
      if (auto p = store_problem(parsed->config.dump_dir); !p.empty()) return error_line(p, 1);
      std::printf("configuration OK (%s)\n", parsed->config.config_file.empty()
                                                 ? "no config file, defaults and flags"
                                                 : parsed->config.config_file.c_str());
      return 0;
    }
    install_log_sink();
    guestdump::set_log_level(level_of(parsed->config.log_level));

    // Every thread inherits this mask; the signals are taken below with sigwaitinfo.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    guestdump::host::Daemon daemon(parsed->config);
    if (auto r = daemon.start(); !r) {
      daemon.stop();
      return error_line(r.error().message, 1);
    }
    // systemd's watchdog (WatchdogSec=): fed at half its period while the core threads make
    // progress; STATUS= is refreshed with it (every 10 s without a watchdog).
    std::uint64_t watchdog_usec = 0;
    const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
    const auto tick = watchdog ? std::chrono::microseconds(watchdog_usec / 2)
                               : std::chrono::microseconds(std::chrono::seconds(10));
    auto report = [&](const char* prefix) {
      daemon.write_metrics();
      const guestdump::host::DaemonStatus st = daemon.status();
      std::string msg = prefix;
      msg += "STATUS=" + guestdump::host::status_line(st);
      if (watchdog && st.stuck.empty()) msg += "\nWATCHDOG=1";
      if (!st.stuck.empty()) {
        GUESTDUMP_LOG(kError, "daemon")
            << st.stuck << "; not feeding the watchdog (systemd restarts the daemon)";
      }
      notify(msg.c_str());
    };
    report("READY=1\n");
    for (;;) {
      siginfo_t info{};
      timespec timeout{};
      timeout.tv_sec = static_cast<time_t>(tick.count() / 1'000'000);
      timeout.tv_nsec = static_cast<long>(tick.count() % 1'000'000) * 1000;
      const int sig = sigtimedwait(&set, &info, &timeout);
      if (sig < 0) {
        report("");
        continue;
      }
      if (sig == SIGHUP) {
        notify("RELOADING=1");
        GUESTDUMP_LOG(kInfo, "daemon") << "SIGHUP: reloading the configuration";
        auto next = guestdump::host::parse_daemon_command_line(args);
        if (!next) {
          GUESTDUMP_LOG_WITH(
              kError, "daemon",
              guestdump::host::daemon_event_fields(guestdump::host::message_id::kConfigRefused))
              << "reload refused, keeping the running configuration: " << next.error().message;
        } else {
          guestdump::set_log_level(level_of(next->config.log_level));
          daemon.reload(next->config);
        }
        report("READY=1\n");
        continue;
      }
      GUESTDUMP_LOG(kInfo, "daemon") << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": stopping";
      notify("STOPPING=1\nSTATUS=stopping: letting running dumps finish");
      daemon.stop();
      GUESTDUMP_LOG(kInfo, "daemon") << "stopped";
      return 0;
    }
  } catch (const std::exception& e) {
    return error_line(std::string("unexpected: ") + e.what(), 1);
  }
}
