// Capture in the capture kernel; see capture.h.

#include "guestdump/guest/capture.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/guest/block_device.h"
#include "guestdump/kernel/kernel_log.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"
#include "guestdump/policies/free_space.h"
#include "guestdump/store/dump_store.h"
#include "guestdump/store/retention.h"

namespace guestdump::guest {

namespace {

constexpr std::string_view kLog = "capture";

/// Refuses to start when the target has less than `min_free` bytes available (the decision is
/// policies::check_free_space with nothing reserved for the dump itself).
Result<void> check_min_free(const std::string& dir, std::uint64_t min_free) {
  GUESTDUMP_TRY(policies::StoreSpace space, store::store_space(dir));
  policies::MinFree mf;
  mf.bytes = min_free;
  mf.percent = 0;
  const policies::SpaceDecision d =
      policies::check_free_space(space, mf, {}, 0, "dump in '" + dir + "'");
  if (d.allowed) return {};
  Error e = make_error(ErrorCode::kOs, "not enough free space in '" + dir +
                                           "': " + format_bytes(space.free_bytes) +
                                           " available, min-free is " + format_bytes(min_free));
  e.sys_errno = ENOSPC;
  return e;
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
  // The guest's disk holds one machine's dumps: no domain level (dump_store.h).
  GUESTDUMP_TRY(store::DumpStore dumps, store::DumpStore::open(base, store::Layout::kOneGuest));

  // Retention before the space check: old dumps make room for the new one. `keep` counts the
  // new dump; leftovers of interrupted captures always go.
  policies::RetentionPolicy retention;
  retention.keep = cfg.keep;
  store::Incoming next;
  next.counted_in_keep = std::string(); // the one-guest store's only domain
  if (cfg.hold_unuploaded) {
    // Not uploaded yet: deleting it would lose it (the upload runs on the next boot).
    next.hold = [](const store::StoredDump& d) {
      return !d.partial && d.meta && d.meta->status == "complete" &&
             !store::upload_confirmed(*d.meta);
    };
  }
  const auto now = policies::WallTime(std::chrono::seconds(std::time(nullptr)));
  GUESTDUMP_TRY(std::vector<store::StoredDump> deleted, store::prune(dumps, retention, now, next));
  for (const store::StoredDump& d : deleted) rep.deleted.push_back(d.name);
  GUESTDUMP_CHECK(check_min_free(base, cfg.min_free));

  store::DumpMeta meta;
  meta.tool = "guestdump-guest";
  meta.tool_version = GUESTDUMP_VERSION;
  meta.trigger = "kdump";
  meta.path = "guest-vmcore";
  meta.started_at = static_cast<std::int64_t>(std::time(nullptr));
  meta.dump_level = cfg.dump_level;
  meta.codec = std::string(formats::codec_name(cfg.codec));
  meta.extra["source"] = cfg.vmcore;
  meta.extra["device"] = rep.device.empty() ? cfg.device : rep.device;
  {
    const formats::DumpMetadata& smeta = src->metadata();
    meta.guest_ram_bytes = smeta.ram.count() * smeta.page_size;
    meta.vmcoreinfo_source = kernel::vmcoreinfo_origin(smeta);
    if (smeta.vmcoreinfo) {
      if (auto rel = smeta.vmcoreinfo->osrelease()) meta.kernel_release = std::string(*rel);
    }
  }
  GUESTDUMP_TRY(store::PendingDump pending, dumps.begin(meta));
  const std::string final_dir = pending.final_dir();

  // The kernel log first: it survives a dump that fails later (full disk, bad memory).
  if (auto log = kernel::read_kernel_log(*src)) {
    if (auto w = pending.write_text("dmesg.txt", log->text); w)
      rep.dmesg_saved = true;
    else
      rep.dmesg_error = w.error().message;
  } else {
    rep.dmesg_error = log.error().message;
  }
  if (!rep.dmesg_saved) {
    GUESTDUMP_LOG(kWarn, kLog) << "no kernel log saved: " << rep.dmesg_error;
    meta.extra["dmesg_error"] = rep.dmesg_error;
  }
  src.reset();

  kernel::ConvertOptions o;
  o.input = cfg.vmcore;
  o.output = pending.file("vmcore");
  o.dump_level = cfg.dump_level;
  o.codec = cfg.codec;
  auto r = kernel::convert(o);
  rep.seconds = elapsed();
  meta.finished_at = static_cast<std::int64_t>(std::time(nullptr));
  meta.extra["seconds"] = rep.seconds;
  if (!r) {
    Error failure = std::move(r).error().context("dump '" + final_dir + "'");
    // The record and the kernel log stay under the final name, so that the crash is seen.
    auto rec = pending.fail(meta, failure.message, {"dmesg.txt"});
    if (rec) {
      rep.dir = *rec;
    } else {
      GUESTDUMP_LOG(kWarn, kLog) << "cannot record the failure: " << rec.error().message;
    }
    ::sync();
    return failure;
  }
  rep.convert = std::move(*r);
  meta.vmcore_bytes = rep.convert.stats.file_size;
  meta.pages_dumped = rep.convert.stats.pages_dumped;
  if (!rep.convert.vmcoreinfo_origin.empty())
    meta.vmcoreinfo_source = rep.convert.vmcoreinfo_origin;
  GUESTDUMP_TRY(rep.dir, pending.commit(meta));
  ::sync();
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
