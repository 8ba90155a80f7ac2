// guestdumpd's options: config file + command line; see daemon_config.h.

#include "guestdump/host/daemon_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>
#include <sys/stat.h>

namespace guestdump::host {

namespace po = boost::program_options;

namespace {

struct DaemonKey {
  const char* name;
  const char* default_value;
  bool repeatable;
  const char* help;
};

// Keys owned by the daemon (the policy keys come from policies::policy_keys()).
constexpr DaemonKey kDaemonKeys[] = {
    {"connect", "qemu:///system", true, "libvirt URI to watch (repeatable)"},
    {"dump-dir", kDefaultDumpDir, false, "the dump store"},
    {"post-hook", "", false, "command run with the dump directory as its argument"},
    {"post-hook-timeout", "300", false,
     "seconds the post-hook may run before its process group is killed"},
    {"jobs", "1", false, "dumps running at once (1-64)"},
    {"keepalive-interval", "5", false, "seconds of silence before a libvirt keepalive (0: off)"},
    {"keepalive-count", "3", false, "unanswered keepalives before the connection is dead"},
    {"reconnect-max", "60", false, "longest wait between reconnect attempts"},
    {"stop-timeout", "60", false, "on SIGTERM, let running dumps finish this long"},
    {"log-level", "info", false, "debug, info, warn or error"},
    {"metrics-file", kDefaultMetricsFile, false,
     "Prometheus textfile for node-exporter (empty: none)"},
    {"upload", "", false,
     "upload each dump to s3://BUCKET/PREFIX (endpoint, region, credentials: AWS CLI conventions)"},
    {"upload-part-size", "64MiB", false, "bytes per multipart upload part (at least 5MiB)"},
    {"upload-parallel", "4", false, "parts of one file uploaded at once (1-32)"},
    {"upload-jobs", "1", false, "dumps uploaded at once (1-16)"},
    {"upload-max-rate", "0", false, "bytes per second per part upload (0: unlimited)"},
    {"keep-local", "all", false, "uploaded dumps kept in dump-dir, newest first (all: keep all)"},
};

Error bad_value(const std::string& key, const std::string& value, const std::string& expected) {
  return make_error(ErrorCode::kInvalidArgument,
                    "invalid value '" + value + "' for '" + key + "': expected " + expected);
}

po::options_description config_keys() {
  po::options_description desc("configuration keys (config file or --flag)");
  auto add = [&](const std::string& name, bool repeatable, const std::string& help) {
    if (repeatable) {
      desc.add_options()(name.c_str(), po::value<std::vector<std::string>>()->composing(),
                         help.c_str());
    } else {
      desc.add_options()(name.c_str(), po::value<std::string>(), help.c_str());
    }
  };
  for (const DaemonKey& k : kDaemonKeys) add(k.name, k.repeatable, k.help);
  for (const policies::PolicyKey& k : policies::policy_keys()) {
    add(std::string(k.name), k.repeatable, std::string(k.help));
  }
  return desc;
}

po::options_description command_only() {
  po::options_description desc("command line only");
  desc.add_options()("help,h", "this text")("version", "print the version")(
      "config", po::value<std::string>(), "config file (default /etc/guestdump/guestdumpd.conf)")(
      "check-config", "check the configuration and exit");
  return desc;
}

Result<std::chrono::seconds> seconds_value(const std::string& key, const std::string& value) {
  GUESTDUMP_TRY(policies::Duration d, policies::parse_duration(value, key));
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

Result<void> apply_daemon_key(DaemonConfig& c, const std::string& key, const std::string& value) {
  if (key == "connect") {
    if (value.empty()) return bad_value(key, value, "a libvirt URI such as qemu:///system");
    c.connect.push_back(value);
  } else if (key == "dump-dir") {
    if (value.empty()) return bad_value(key, value, "a directory");
    c.dump_dir = value;
  } else if (key == "post-hook") {
    c.post_hook = value;
  } else if (key == "post-hook-timeout") {
    GUESTDUMP_TRY(c.post_hook_timeout, seconds_value(key, value));
    if (c.post_hook_timeout.count() < 1) return bad_value(key, value, "at least 1s");
  } else if (key == "jobs") {
    GUESTDUMP_TRY(std::uint32_t n, policies::parse_count(value, key));
    if (n < 1 || n > 64) return bad_value(key, value, "1 to 64");
    c.jobs = n;
  } else if (key == "keepalive-interval") {
    GUESTDUMP_TRY(c.keepalive_interval, seconds_value(key, value));
  } else if (key == "keepalive-count") {
    GUESTDUMP_TRY(c.keepalive_count, policies::parse_count(value, key));
    if (c.keepalive_count > 100) return bad_value(key, value, "0 to 100");
  } else if (key == "reconnect-max") {
    GUESTDUMP_TRY(c.reconnect_max, seconds_value(key, value));
    if (c.reconnect_max.count() < 1) return bad_value(key, value, "at least 1s");
  } else if (key == "stop-timeout") {
    GUESTDUMP_TRY(c.stop_timeout, seconds_value(key, value));
  } else if (key == "metrics-file") {
    if (!value.empty() && value.front() != '/') return bad_value(key, value, "an absolute path");
    c.metrics_file = value;
  } else if (key == "upload") {
    c.upload = value;
    c.upload_url.reset();
    if (!value.empty()) {
      auto url = objstore::parse_s3_url(value);
      if (!url) {
        return make_error(ErrorCode::kInvalidArgument,
                          "invalid value for 'upload': " + url.error().message);
      }
      c.upload_url = *url;
    }
  } else if (key == "upload-part-size") {
    GUESTDUMP_TRY(std::uint64_t n, policies::parse_bytes(value, key));
    // S3 and Ceph RGW refuse parts under 5 MiB (but the last), and none over 5 GiB.
    if (n < (std::uint64_t{5} << 20) || n > (std::uint64_t{5} << 30)) {
      return bad_value(key, value, "5MiB to 5GiB");
    }
    c.upload_part_size = n;
  } else if (key == "upload-parallel") {
    GUESTDUMP_TRY(std::uint32_t n, policies::parse_count(value, key));
    if (n < 1 || n > 32) return bad_value(key, value, "1 to 32");
    c.upload_parallel = n;
  } else if (key == "upload-jobs") {
    GUESTDUMP_TRY(std::uint32_t n, policies::parse_count(value, key));
    if (n < 1 || n > 16) return bad_value(key, value, "1 to 16");
    c.upload_jobs = n;
  } else if (key == "upload-max-rate") {
    GUESTDUMP_TRY(c.upload_max_rate, policies::parse_bytes(value, key));
  } else if (key == "keep-local") {
    if (value == "all") {
      c.keep_local.reset();
    } else {
      GUESTDUMP_TRY(std::uint32_t n, policies::parse_count(value, key));
      c.keep_local = n;
    }
  } else if (key == "log-level") {
    if (value != "debug" && value != "info" && value != "warn" && value != "error") {
      return bad_value(key, value, "debug, info, warn or error");
    }
    c.log_level = value;
  } else {
    return make_error(ErrorCode::kNotFound, "unknown key '" + key + "'");
  }
  return {};
}

// Applies every stored key, daemon keys first, in the order of the key tables (so errors are
// reported in a stable order).
Result<void> apply_all(DaemonConfig& c, const po::variables_map& vm, const po::variables_map& flags,
                       const std::string& file) {
  // A bad value names the file it came from (a flag's value speaks for itself).
  auto where = [&](const std::string& key, Error e) {
    if (!file.empty() && flags.count(key) == 0) e.context(file);
    return e;
  };
  auto values = [&](const std::string& key, bool repeatable) {
    std::vector<std::string> out;
    if (vm.count(key) == 0) return out;
    if (repeatable) return vm[key].as<std::vector<std::string>>();
    out.push_back(vm[key].as<std::string>());
    return out;
  };
  for (const DaemonKey& k : kDaemonKeys) {
    for (const std::string& v : values(k.name, k.repeatable)) {
      if (auto r = apply_daemon_key(c, k.name, v); !r) return where(k.name, std::move(r).error());
    }
  }
  for (const policies::PolicyKey& k : policies::policy_keys()) {
    const std::string key(k.name);
    for (const std::string& v : values(key, k.repeatable)) {
      if (auto r = policies::apply_option(c.policy, key, v); !r) {
        return where(key, std::move(r).error());
      }
    }
  }
  if (c.connect.empty()) c.connect.emplace_back("qemu:///system");
  return policies::validate(c.policy);
}

// The remote store's endpoint and credentials, checked when the configuration is read: a daemon
// that could not upload must not start (or take a reload) as if it could.
Result<void> resolve_upload(DaemonConfig& c, const objstore::Environment& env) {
  c.upload_s3.reset();
  if (!c.upload_url) {
    if (c.keep_local) {
      return make_error(ErrorCode::kInvalidArgument,
                        "'keep-local' needs 'upload': only uploaded dumps are removed by it");
    }
    return {};
  }
  auto s3 = objstore::resolve_s3_config(env);
  if (!s3) {
    return make_error(ErrorCode::kInvalidArgument,
                      "upload '" + c.upload + "': " + s3.error().message +
                          " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the unit's "
                          "environment, or AWS_SHARED_CREDENTIALS_FILE; see guestdumpd.conf(5))");
  }
  c.upload_s3 = std::move(*s3);
  return {};
}

std::string describe(const po::error& e) {
  return e.what();
}

} // namespace

Result<DaemonCommandLine> parse_daemon_command_line(const std::vector<std::string>& args) {
  return parse_daemon_command_line(args, objstore::process_environment());
}

Result<DaemonCommandLine> parse_daemon_command_line(const std::vector<std::string>& args,
                                                    const objstore::Environment& env) {
  DaemonCommandLine out;
  po::options_description keys = config_keys();
  po::options_description all;
  all.add(command_only()).add(keys);
  po::variables_map vm;
  po::variables_map flags; // what the command line alone gave
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    po::store(po::command_line_parser(args).options(all).run(), flags);
  } catch (const po::unknown_option& e) {
    return make_error(ErrorCode::kInvalidArgument, "unknown option '" + e.get_option_name() + "'");
  } catch (const po::error& e) {
    return make_error(ErrorCode::kInvalidArgument, describe(e));
  }
  out.help = vm.count("help") != 0;
  out.version = vm.count("version") != 0;
  out.check_config = vm.count("check-config") != 0;
  if (out.help || out.version) return out;

  std::string file = kDefaultConfigFile;
  bool named = false;
  if (vm.count("config") != 0) {
    file = vm["config"].as<std::string>();
    named = true;
  }
  std::ifstream in(file);
  if (!in) {
    const int err = errno;
    if (named || err != ENOENT) {
      return make_error(named && err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kOs,
                        "config file '" + file + "': " + std::strerror(err));
    }
  } else {
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument, "config file '" + file + "': is a directory");
    }
    try {
      po::store(po::parse_config_file(in, keys, false), vm);
    } catch (const po::unknown_option& e) {
      return make_error(ErrorCode::kInvalidArgument,
                        "unknown key '" + e.get_option_name() + "' in '" + file + "'");
    } catch (const po::multiple_occurrences& e) {
      return make_error(ErrorCode::kInvalidArgument,
                        "key '" + e.get_option_name() + "' given more than once in '" + file +
                            "' (only connect, include, exclude and override repeat)");
    } catch (const po::error& e) {
      return make_error(ErrorCode::kInvalidArgument, "config file '" + file + "': " + describe(e));
    }
    out.config.config_file = file;
  }
  GUESTDUMP_CHECK(apply_all(out.config, vm, flags, out.config.config_file));
  GUESTDUMP_CHECK(resolve_upload(out.config, env));
  return out;
}

std::string daemon_usage() {
  std::ostringstream os;
  os << "usage: guestdumpd [--config FILE] [--check-config] [--KEY VALUE ...]\n\n"
        "Watches libvirt guests and captures a filtered kdump of each one that panics, loads\n"
        "its crash kernel, trips its watchdog or hangs. Runs in the foreground.\n\n";
  os << command_only() << "\n";
  os << "daemon keys:\n";
  for (const DaemonKey& k : kDaemonKeys) {
    os << "  --" << k.name << (k.repeatable ? " (repeatable)" : "") << "\n      " << k.help
       << (k.default_value[0] != '\0' ? std::string(" [") + k.default_value + "]" : "") << "\n";
  }
  os << "policy keys (docs/config.md):\n";
  for (const policies::PolicyKey& k : policies::policy_keys()) {
    os << "  --" << k.name << (k.repeatable ? " (repeatable)" : "") << "\n      " << k.help
       << (k.default_value.empty() ? std::string() : " [" + std::string(k.default_value) + "]")
       << "\n";
  }
  return os.str();
}

} // namespace guestdump::host
