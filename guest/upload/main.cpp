// guestdump-guest-upload: `guestdump-guest upload`, the part of guestdump-guest that needs
// shared libraries (libcurl, libxml2, libcrypto for S3). The static guestdump-guest execs it
// from /usr/libexec/guestdump/; see docs/guest.md ("upload") and guest/upload/include.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "guestdump/common/cli_args.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/guest/upload.h"

namespace {

namespace po = boost::program_options;
using namespace guestdump;
using namespace guestdump::guest;

constexpr const char* kUsage =
    "usage: guestdump-guest upload [--target s3://BUCKET/PREFIX|ssh://[USER@]HOST[:PORT]/PATH]\n"
    "                              [--dump-dir DIR] [--keep-local N|all] [--ssh-key FILE]\n"
    "                              [--ssh-known-hosts FILE] [--metrics-file FILE] [--config FILE]\n"
    "                              [--dry-run]";

int fail(const std::string& message) {
  std::fprintf(stderr, "guestdump-guest: error: upload: %s\n", message.c_str());
  return 1;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr,
               "guestdump-guest: upload: %s\nRun 'guestdump-guest upload --help' for usage.\n",
               message.c_str());
  return 2;
}

// The default file only when node-exporter's directory exists; a file the operator named must
// be written. A metrics failure is reported but does not fail the run (the dumps are what
// matters).
void write_run_metrics(const std::string& path, const UploadOutcome& outcome,
                       std::chrono::steady_clock::time_point started) {
  if (path.empty()) return;
  if (path == kGuestMetricsFile) {
    const std::string dir = path.substr(0, path.rfind('/'));
    if (::access(dir.c_str(), F_OK) != 0) return;
  }
  UploadRunMetrics m;
  m.finished_at = static_cast<std::int64_t>(std::time(nullptr));
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  m.uploaded = outcome.uploaded.size();
  m.failed = outcome.failures.size();
  m.deleted = outcome.deleted.size();
  m.backlog = outcome.backlog;
  m.bytes = outcome.bytes;
  if (auto r = write_metrics_file(path, upload_metrics_text(m)); !r)
    std::fprintf(stderr, "guestdump-guest: warning: upload: metrics: %s\n",
                 r.error().message.c_str());
}

void on_signal(int) {
  request_cancel();
}

int run(const std::vector<std::string>& args) {
  po::options_description desc("upload options");
  UploadSettings flags;
  std::string keep_text;
  std::string config = kGuestDefaultsFile;
  desc.add_options()("help,h", "show this help")(
      "target", po::value(&flags.target),
      "s3://BUCKET/PREFIX or ssh://[USER@]HOST[:PORT]/PATH (default: GUESTDUMP_UPLOAD)")(
      "dump-dir", po::value(&flags.dump_dir),
      "where this system sees the saved dumps (default: GUESTDUMP_DUMP_DIR, else /var/crash)")(
      "keep-local", po::value(&keep_text),
      "newest dumps kept locally once uploaded, or 'all' (default: GUESTDUMP_KEEP_LOCAL, else "
      "all)")("ssh-key", po::value(&flags.ssh_key),
              "private key file for ssh:// (default: GUESTDUMP_SSH_KEY)")(
      "ssh-known-hosts", po::value(&flags.ssh_known_hosts),
      "known_hosts file for ssh:// (default: GUESTDUMP_SSH_KNOWN_HOSTS)")(
      "metrics-file", po::value(&flags.metrics_file),
      "the run's metrics for node-exporter's textfile collector, '' for none (default: "
      "GUESTDUMP_METRICS_FILE, else /var/lib/prometheus/node-exporter/guestdump-guest.prom when "
      "that directory exists)")("config", po::value(&config)->default_value(config),
                                "settings file (a shell fragment with GUESTDUMP_* keys)")(
      "dry-run", "list what would be uploaded and deleted; change nothing");
  int code = 0;
  auto vm = parse_cli_args(args, desc, {}, kUsage, usage_error, code);
  if (!vm) return code;

  // Defaults < the settings file < flags. A missing default file is fine (nothing configured);
  // a file named by --config must exist.
  UploadSettings s;
  {
    std::ifstream in(config);
    if (!in && !vm->at("config").defaulted()) return fail("read '" + config + "': cannot open");
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      if (auto r = apply_upload_defaults(s, ss.str(), config); !r)
        return usage_error(r.error().message);
    }
  }
  if (vm->count("target") != 0) s.target = flags.target;
  if (vm->count("dump-dir") != 0) s.dump_dir = flags.dump_dir;
  if (vm->count("ssh-key") != 0) s.ssh_key = flags.ssh_key;
  if (vm->count("ssh-known-hosts") != 0) s.ssh_known_hosts = flags.ssh_known_hosts;
  if (vm->count("metrics-file") != 0) s.metrics_file = flags.metrics_file;
  if (vm->count("keep-local") != 0) {
    auto k = parse_keep_local(keep_text, "--keep-local");
    if (!k) return usage_error(k.error().message);
    s.keep_local = *k;
  }
  if (s.target.empty()) {
    std::fprintf(stderr,
                 "guestdump-guest: upload: no target (GUESTDUMP_UPLOAD in %s or --target): "
                 "nothing to do\n",
                 config.c_str());
    return 0;
  }
  auto target = parse_upload_target(s.target);
  if (!target) return usage_error(target.error().message);
  const bool dry_run = vm->count("dry-run") != 0;

  if (dry_run) {
    auto dumps = list_local_dumps(s.dump_dir);
    if (!dumps) return fail(dumps.error().message);
    for (const LocalDump& d : dumps_to_upload(*dumps))
      std::printf("would upload %s to %s\n", d.path.c_str(), escape_text(target->url).c_str());
    // What keep-local would delete were every upload confirmed.
    std::vector<LocalDump> after = *dumps;
    for (LocalDump& d : after) d.uploaded = d.uploaded || d.complete;
    for (const LocalDump& d : local_deletions(after, s.keep_local))
      std::printf("would delete %s once uploaded\n", d.path.c_str());
    return 0;
  }

  std::unique_ptr<DumpUploader> uploader;
  if (target->kind == UploadKind::kSsh) {
    SshOptions o;
    o.target = target->ssh;
    o.key = s.ssh_key;
    o.known_hosts = s.ssh_known_hosts;
    // The key and known_hosts files are checked here, so a typo is named as such and not as
    // an authentication failure (their contents never leave ssh).
    for (const std::string* f : {&o.key, &o.known_hosts})
      if (!f->empty() && ::access(f->c_str(), R_OK) != 0)
        return fail(errno_error("read", *f).message);
    uploader = make_ssh_uploader(std::move(o));
  } else {
    auto u = make_s3_uploader(target->url);
    if (!u) return fail(u.error().message);
    uploader = std::move(*u);
  }

  const auto started = std::chrono::steady_clock::now();
  auto outcome = upload_and_prune(s.dump_dir, *uploader, s.keep_local, machine_uuid());
  if (!outcome) return fail(outcome.error().message);
  write_run_metrics(s.metrics_file, *outcome, started);
  for (const auto& [dir, url] : outcome->uploaded)
    std::printf("uploaded %s to %s\n", dir.c_str(), escape_text(url).c_str());
  for (const std::string& dir : outcome->deleted) std::printf("deleted %s\n", dir.c_str());
  for (const std::string& f : outcome->failures) (void)fail(f);
  if (outcome->uploaded.empty() && outcome->failures.empty())
    std::fprintf(stderr, "guestdump-guest: upload: no dump to upload in %s\n", s.dump_dir.c_str());
  return outcome->failures.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  try {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    if (std::getenv("GUESTDUMP_DEBUG") != nullptr) set_log_level(LogLevel::kDebug);
    set_log_sink([](LogLevel level, std::string_view, std::string_view text) {
      std::fprintf(stderr, "guestdump-guest: %.*s: %.*s\n",
                   static_cast<int>(log_level_name(level).size()), log_level_name(level).data(),
                   static_cast<int>(text.size()), text.data());
    });
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    return fail(std::string("unexpected: ") + e.what());
  }
}
