// Capture in the capture kernel; see capture.h.

#include "capture.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string_view>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block_device.h"
#include "commands.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/kernel/kernel_log.h"

namespace fs = std::filesystem;

namespace guestdump::guest {

namespace {

constexpr std::string_view kLog = "capture";

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/// mkdir -p with mode 0700 for the directories it creates.
Result<void> make_dirs(const std::string& path) {
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return errno_error("mkdir", cur);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat", path);
  if (!S_ISDIR(st.st_mode))
    return make_error(ErrorCode::kInvalidArgument, "'" + path + "' is not a directory");
  return {};
}

Result<void> fsync_path(const std::string& path) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return errno_error("fsync", path);
  return {};
}

/// Writes `name` in `dir` under a temporary name (mode 0600), fsyncs and renames it.
Result<void> write_small_file(const std::string& dir, const std::string& name,
                              std::string_view text) {
  std::string tmp = dir + "/." + name + ".tmp";
  std::string path = dir + "/" + name;
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  if (auto w = write_all(fd.get(), std::as_bytes(std::span(text.data(), text.size())), tmp); !w) {
    ::unlink(tmp.c_str());
    return std::move(w).error();
  }
  if (::fsync(fd.get()) != 0) {
    Error e = errno_error("fsync", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = errno_error("rename", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

std::string utc_now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string meta_json(const CaptureConfig& cfg, const CaptureReport& rep, std::string_view status,
                      std::string_view started) {
  const auto& c = rep.convert;
  std::string j = "{\n";
  j += "  \"status\": " + json_string(status) + ",\n";
  j += "  \"tool\": \"guestdump-guest\",\n";
  j += "  \"source\": " + json_string(cfg.vmcore) + ",\n";
  j += "  \"device\": " + json_string(rep.device.empty() ? cfg.device : rep.device) + ",\n";
  j += "  \"started\": " + json_string(started) + ",\n";
  j += "  \"finished\": " + json_string(utc_now_iso()) + ",\n";
  j += "  \"seconds\": " + std::to_string(rep.seconds) + ",\n";
  j += "  \"dump_level\": " + std::to_string(cfg.dump_level) + ",\n";
  j += "  \"codec\": " + json_string(formats::codec_name(cfg.codec)) + ",\n";
  j += "  \"pages_ram\": " + std::to_string(c.pages_ram) + ",\n";
  j += "  \"pages_dumped\": " + std::to_string(c.stats.pages_dumped) + ",\n";
  j += "  \"vmcore_bytes\": " + std::to_string(c.stats.file_size) + ",\n";
  j += "  \"dmesg\": " + std::string(rep.dmesg_saved ? "true" : "false") + "\n";
  return j + "}\n";
}

} // namespace

Result<CaptureReport> capture_dump(const CaptureConfig& cfg) {
  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  CaptureReport rep;
  GUESTDUMP_CHECK(kernel::check_dump_level(cfg.dump_level));

  if (cfg.to == "-") { // stream: the log has nowhere to go but the dump itself
    kernel::ConvertOptions o;
    o.input = cfg.vmcore;
    o.output = "-";
    o.flattened = true;
    o.dump_level = cfg.dump_level;
    o.codec = cfg.codec;
    auto r = kernel::convert(o);
    if (!r) return std::move(r).error().context("capture '" + cfg.vmcore + "' to stdout");
    rep.convert = std::move(*r);
    rep.seconds = elapsed();
    return rep;
  }

  // The source first: a missing or unreadable vmcore leaves no directory behind.
  auto opened = formats::open_dump(cfg.vmcore);
  if (!opened) {
    Error e = std::move(opened).error();
    if (e.message.find(cfg.vmcore) == std::string::npos) e.context("vmcore '" + cfg.vmcore + "'");
    return e;
  }
  auto src = std::move(*opened);

  std::string base = cfg.to;
  if (!cfg.device.empty()) {
    GUESTDUMP_TRY(BlockDevice dev, wait_for_block_device(cfg.device, cfg.device_timeout));
    GUESTDUMP_CHECK(mount_block_device(dev, kCaptureMountPoint));
    rep.device = dev.node;
    GUESTDUMP_LOG(kInfo, kLog) << "mounted " << dev.fs.type << " '" << dev.node << "' ("
                               << cfg.device << ") on " << kCaptureMountPoint;
    std::string rel = cfg.to;
    while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
    base = std::string(kCaptureMountPoint) + (rel.empty() ? "" : "/" + rel);
  }
  GUESTDUMP_CHECK(make_dirs(base));

  // Retention before the space check: old dumps make room for the new one.
  std::vector<std::string> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(base, ec)) entries.push_back(e.path().filename());
  if (ec) return errno_error("list", base, ec.value());
  for (const std::string& name : plan_dump_cleanup(entries, cfg.keep)) {
    fs::remove_all(base + "/" + name, ec);
    if (ec) return errno_error("delete old dump", base + "/" + name, ec.value());
    GUESTDUMP_LOG(kInfo, kLog) << "deleted old dump '" << base << "/" << name << "' (keep "
                               << cfg.keep << ")";
    rep.deleted.push_back(name);
  }

  struct statvfs sv {};
  if (::statvfs(base.c_str(), &sv) != 0) return errno_error("statvfs", base);
  GUESTDUMP_CHECK(check_min_free(std::uint64_t{sv.f_bavail} * sv.f_frsize, cfg.min_free, base));

  std::string name = dump_dir_name(std::time(nullptr));
  for (int i = 1; fs::exists(base + "/" + name, ec); ++i)
    name = dump_dir_name(std::time(nullptr)).substr(0, 16) + "-" + std::to_string(i);
  std::string partial = base + "/." + name + ".partial";
  std::string final_dir = base + "/" + name;
  if (::mkdir(partial.c_str(), 0700) != 0) return errno_error("mkdir", partial);
  std::string started = utc_now_iso();

  // The kernel log first: it survives a dump that fails later (full disk, bad memory).
  if (auto log = kernel::read_kernel_log(*src)) {
    if (auto w = write_small_file(partial, "dmesg.txt", log->text); w)
      rep.dmesg_saved = true;
    else
      rep.dmesg_error = w.error().message;
  } else {
    rep.dmesg_error = log.error().message;
  }
  if (!rep.dmesg_saved) {
    GUESTDUMP_LOG(kWarn, kLog) << "no kernel log saved: " << rep.dmesg_error;
  }
  src.reset();

  kernel::ConvertOptions o;
  o.input = cfg.vmcore;
  o.output = partial + "/vmcore";
  o.dump_level = cfg.dump_level;
  o.codec = cfg.codec;
  auto r = kernel::convert(o);
  Error failure;
  bool ok = r.has_value();
  if (ok)
    rep.convert = std::move(*r);
  else
    failure = std::move(r).error().context("dump '" + final_dir + "'");
  rep.seconds = elapsed();

  std::string status = ok ? "complete" : "failed: " + failure.message;
  // meta.json may not fit on a full disk; the directory is still renamed so that it is seen.
  auto meta = write_small_file(partial, "meta.json", meta_json(cfg, rep, status, started));
  if (!ok && !rep.dmesg_saved && !meta) {
    fs::remove_all(partial, ec); // nothing worth keeping
    return failure;
  }
  if (::rename(partial.c_str(), final_dir.c_str()) != 0) {
    if (!ok) return failure;
    return errno_error("rename", partial);
  }
  rep.dir = final_dir;
  (void)fsync_path(base);
  ::sync();
  if (!ok) return failure;
  if (!meta) return std::move(meta).error();
  return rep;
}

void perform_after(AfterAction action) {
  ::sync();
  switch (action) {
  case AfterAction::kNone:
    return;
  case AfterAction::kShell: {
    pid_t pid = ::fork();
    if (pid == 0) {
      const char* argv[] = {"/bin/sh", nullptr};
      ::execv("/bin/sh", const_cast<char* const*>(argv));
      ::_exit(127);
    }
    if (pid > 0) {
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
    ::sync();
    ::reboot(RB_AUTOBOOT);
    break;
  }
  case AfterAction::kHalt:
    ::reboot(RB_HALT_SYSTEM);
    break;
  case AfterAction::kPoweroff:
    ::reboot(RB_POWER_OFF);
    break;
  case AfterAction::kReboot:
    ::reboot(RB_AUTOBOOT);
    break;
  }
  // Only reached when reboot(2) failed (not permitted outside PID 1's namespace): try the
  // plainest form once more.
  std::fprintf(stderr, "guestdump-guest: error: reboot(%s): %s\n",
               std::string(after_name(action)).c_str(), std::strerror(errno));
  ::reboot(RB_AUTOBOOT);
}

namespace {

void init_mount(const char* source, const char* target, const char* type) {
  ::mkdir(target, 0755);
  if (::mount(source, target, type, 0, nullptr) != 0 && errno != EBUSY)
    std::fprintf(stderr, "guestdump-guest: warning: mount %s on %s: %s\n", type, target,
                 std::strerror(errno));
}

std::string read_text(const std::string& path) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  if (!fd) return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd->get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

void load_modules() {
  std::string list = read_text(kCaptureModulesFile);
  std::size_t pos = 0;
  while (pos < list.size()) {
    std::size_t nl = list.find('\n', pos);
    std::string path = list.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? list.size() : nl + 1;
    if (path.empty() || path.front() == '#') continue;
    auto fd = UniqueFd::open(path, O_RDONLY);
    if (!fd) {
      std::fprintf(stderr, "guestdump-guest: module %s: %s\n", path.c_str(),
                   fd.error().message.c_str());
      continue;
    }
    unsigned flags = 0;
    if (path.ends_with(".xz") || path.ends_with(".zst") || path.ends_with(".gz"))
      flags = 4; // MODULE_INIT_COMPRESSED_FILE: the kernel decompresses (Linux >= 5.17)
    long rc = ::syscall(SYS_finit_module, fd->get(), "", flags);
    if (rc != 0 && errno != EEXIST)
      std::fprintf(stderr, "guestdump-guest: module %s: finit_module: %s\n", path.c_str(),
                   std::strerror(errno));
    else
      std::fprintf(stderr, "guestdump-guest: module %s loaded\n", path.c_str());
    // The rootfs is RAM of a small reservation: a loaded module's file is not needed again.
    ::unlink(path.c_str());
  }
}

} // namespace

int run_capture_init() {
  init_mount("proc", "/proc", "proc");
  init_mount("sysfs", "/sys", "sysfs");
  init_mount("devtmpfs", "/dev", "devtmpfs");
  if (::fcntl(2, F_GETFD) < 0) { // no console inherited (no /dev/console in the archive)
    int fd = ::open("/dev/console", O_RDWR);
    if (fd >= 0) {
      ::dup2(fd, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      if (fd > 2) ::close(fd);
    }
  }
  std::fprintf(stderr, "guestdump-guest: capture init starting\n");
  load_modules();

  CaptureConfig cfg;
  bool ok = true;
  std::string config_text = read_text(kCaptureConfigFile);
  if (auto r = apply_capture_config_text(cfg, config_text, kCaptureConfigFile); !r) {
    std::fprintf(stderr, "guestdump-guest: error: %s\n", r.error().message.c_str());
    ok = false;
  }
  if (auto r = apply_kernel_cmdline(cfg, read_text("/proc/cmdline")); !r) {
    std::fprintf(stderr, "guestdump-guest: error: %s\n", r.error().message.c_str());
    ok = false;
  }
  if (ok) {
    auto rep = capture_dump(cfg);
    if (rep) {
      std::fprintf(stderr,
                   "guestdump-guest: capture: wrote %s/vmcore (%llu bytes, %llu pages, level %d, "
                   "%s) in %.1f s\n",
                   rep->dir.c_str(), static_cast<unsigned long long>(rep->convert.stats.file_size),
                   static_cast<unsigned long long>(rep->convert.stats.pages_dumped), cfg.dump_level,
                   std::string(formats::codec_name(cfg.codec)).c_str(), rep->seconds);
    } else {
      ok = false;
      std::fprintf(stderr, "guestdump-guest: error: capture: %s\n", rep.error().message.c_str());
    }
  }
  ::sync();
  ::umount2(kCaptureMountPoint, 0);
  AfterDecision d = decide_after(cfg.after, true, ::access("/proc/vmcore", F_OK) == 0, ok,
                                 ::access("/bin/sh", X_OK) == 0);
  std::fprintf(stderr, "guestdump-guest: %s: %s\n", std::string(after_name(d.action)).c_str(),
               d.reason.c_str());
  perform_after(d.action);
  return 1; // PID 1 exiting panics the kernel, whose panic= setting then reboots
}

} // namespace guestdump::guest
