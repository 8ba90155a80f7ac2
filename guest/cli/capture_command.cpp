// `guestdump-guest capture`: see capture.h and docs/guest.md.

#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "guestdump/guest/capture.h"
#include "guestdump/guest/capture_config.h"

namespace po = boost::program_options;

namespace guestdump::guest {

int run_capture(const std::vector<std::string>& args) {
  po::options_description desc("capture options");
  std::string after;
  std::string codec;
  std::string min_free;
  std::string config;
  CaptureConfig cfg;
  bool hold = false;
  int level = cfg.dump_level;
  desc.add_options()("help,h", "show this help")(
      "vmcore", po::value(&cfg.vmcore)->default_value(cfg.vmcore), "the crashed kernel's memory")(
      "to", po::value(&cfg.to)->default_value(cfg.to),
      "dump directory (a path on --device when given), or '-' for a flattened stream on stdout")(
      "device", po::value(&cfg.device), "dump file system: UUID=..., LABEL=... or /dev/...")(
      "dump-level,d", po::value(&level)->default_value(level), "makedumpfile -d level, 0-31")(
      "codec,c", po::value(&codec)->default_value("zstd"), "zstd, zlib, lzo, snappy or none")(
      "min-free", po::value(&min_free), "refuse to write when less than this is free (e.g. 512M)")(
      "keep", po::value(&cfg.keep)->default_value(0), "dumps kept, the new one included; 0 = all")(
      "hold-unuploaded", po::bool_switch(&hold),
      "--keep never deletes a dump whose upload is not confirmed")(
      "after", po::value(&after),
      "reboot, halt, poweroff, shell or none (default: reboot in a capture kernel, else none)")(
      "device-timeout", po::value(&cfg.device_timeout)->default_value(cfg.device_timeout),
      "seconds to wait for --device to appear")(
      "config", po::value(&config), "read key=value settings from FILE first (flags override)");
  int code = 0;
  auto vm = cli::parse_args(args, desc, {},
                            "usage: guestdump-guest capture [--vmcore FILE] [--to DIR|-] "
                            "[--device UUID=..|LABEL=..] [-d LEVEL] [-c CODEC] [--min-free SIZE] "
                            "[--keep N] [--after ACTION]",
                            code);
  if (!vm) return code;

  // Defaults < config file < flags given on the command line.
  if (!config.empty()) {
    std::ifstream in(config);
    if (!in) return cli::fail("read '" + config + "': cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    CaptureConfig from_file;
    if (auto r = apply_capture_config_text(from_file, ss.str(), config); !r)
      return cli::usage_error(r.error().message);
    auto given = [&](const char* k) { return !vm->at(k).defaulted(); };
    if (!given("vmcore")) cfg.vmcore = from_file.vmcore;
    if (!given("to")) cfg.to = from_file.to;
    if (vm->count("device") == 0) cfg.device = from_file.device;
    if (!given("dump-level")) level = from_file.dump_level;
    if (!given("codec")) codec = std::string(formats::codec_name(from_file.codec));
    if (vm->count("min-free") == 0) cfg.min_free = from_file.min_free;
    if (!given("keep")) cfg.keep = from_file.keep;
    cfg.hold_unuploaded = from_file.hold_unuploaded;
    if (vm->count("after") == 0) cfg.after = from_file.after;
    if (!given("device-timeout")) cfg.device_timeout = from_file.device_timeout;
  }
  for (auto [key, value] :
       {std::pair<const char*, std::string>{"dump-level", std::to_string(level)},
        {"codec", codec}}) {
    if (auto r = apply_capture_setting(cfg, key, value, "--" + std::string(key)); !r)
      return cli::usage_error(r.error().message);
  }
  if (hold) cfg.hold_unuploaded = true;
  if (vm->count("min-free") != 0)
    if (auto r = apply_capture_setting(cfg, "min-free", min_free, "--min-free"); !r)
      return cli::usage_error(r.error().message);
  if (vm->count("after") != 0)
    if (auto r = apply_capture_setting(cfg, "after", after, "--after"); !r)
      return cli::usage_error(r.error().message);
  if (!cfg.device.empty())
    if (auto r = apply_capture_setting(cfg, "device", cfg.device, "--device"); !r)
      return cli::usage_error(r.error().message);

  auto rep = capture_dump(cfg);
  int rc = 0;
  if (rep) {
    if (cfg.to == "-")
      std::fprintf(stderr, "guestdump-guest: capture: streamed %llu pages (level %d, %s)\n",
                   static_cast<unsigned long long>(rep->convert.stats.pages_dumped), cfg.dump_level,
                   std::string(formats::codec_name(cfg.codec)).c_str());
    else
      std::fprintf(stderr,
                   "guestdump-guest: capture: wrote %s/vmcore (%llu bytes, %llu pages, level %d, "
                   "%s)%s in %.1f s\n",
                   rep->dir.c_str(), static_cast<unsigned long long>(rep->convert.stats.file_size),
                   static_cast<unsigned long long>(rep->convert.stats.pages_dumped), cfg.dump_level,
                   std::string(formats::codec_name(cfg.codec)).c_str(),
                   rep->dmesg_saved ? " and dmesg.txt" : "", rep->seconds);
  } else {
    rc = cli::fail("capture: " + rep.error().message);
  }
  AfterDecision d = decide_after(cfg.after, ::getpid() == 1, ::access("/proc/vmcore", F_OK) == 0,
                                 rc == 0, ::access("/bin/sh", X_OK) == 0);
  if (d.action != AfterAction::kNone || cfg.after) {
    std::fprintf(stderr, "guestdump-guest: after capture: %s (%s)\n",
                 std::string(after_name(d.action)).c_str(), d.reason.c_str());
    perform_after(d.action);
  }
  return rc;
}

} // namespace guestdump::guest
