// `guestdump-guest initramfs`: builds the standalone capture initramfs (see initramfs.h).

#include <cstdio>

#include <sys/utsname.h>

#include "cli.h"
#include "commands.h"
#include "guestdump/guest/block_device.h"
#include "guestdump/guest/capture_config.h"
#include "guestdump/guest/initramfs.h"
#include "guestdump/guest/paths.h"

namespace po = boost::program_options;

namespace guestdump::guest {

int run_initramfs(const std::vector<std::string>& args) {
  po::options_description desc("initramfs options");
  InitramfsSpec spec;
  std::string release, target, after, dump_dir, codec, min_free;
  int level = -1;
  unsigned keep = 0;
  bool no_compress = false;
  bool hold = false;
  desc.add_options()("help,h", "show this help")(
      "output,o", po::value(&spec.output),
      "archive to write (default /var/lib/guestdump/capture-initrd-RELEASE.img)")(
      "kernel-release", po::value(&release), "kernel release of the capture kernel (uname -r)")(
      "modules-dir", po::value(&spec.modules_dir), "its modules (default /lib/modules/RELEASE)")(
      "target-device", po::value(&target)->required(),
      "dump file system: UUID=..., LABEL=... or /dev/...; its drivers are added when it exists "
      "on this system")("module", po::value(&spec.modules)->composing(),
                        "also add this module and its dependencies (repeatable)")(
      "binary", po::value(&spec.binary)->default_value("/proc/self/exe"),
      "static guestdump-guest to use as /init")("shell", po::value(&spec.shell),
                                                "static shell to add as /bin/sh (after=shell)")(
      "dump-dir", po::value(&dump_dir), "dump directory on the target (default /var/crash)")(
      "dump-level,d", po::value(&level), "capture -d level (default 31)")(
      "codec,c", po::value(&codec), "capture codec (default zstd)")(
      "keep", po::value(&keep), "dumps kept on the target, the new one included")(
      "hold-unuploaded", po::bool_switch(&hold),
      "--keep never deletes a dump whose upload is not confirmed (set by the kernel hook when "
      "GUESTDUMP_UPLOAD is set)")("min-free", po::value(&min_free),
                                  "space that must be free on the target")(
      "after", po::value(&after), "reboot (default), halt, poweroff or shell")(
      "no-compress", po::bool_switch(&no_compress), "write the cpio archive uncompressed");
  int code = 0;
  auto vm = cli::parse_args(args, desc, {},
                            "usage: guestdump-guest initramfs --target-device SPEC [-o PATH] "
                            "[--kernel-release R] [--modules-dir DIR] [--module NAME]...",
                            code);
  if (!vm) return code;
  spec.compress = !no_compress;
  if (release.empty()) {
    struct utsname u {};
    ::uname(&u);
    release = u.release;
  }
  if (spec.modules_dir.empty()) spec.modules_dir = "/lib/modules/" + release;
  if (spec.output.empty()) spec.output = capture_initrd_for(release);

  // The config the capture init reads, checked with the same parser before it is written.
  std::string conf = "# written by guestdump-guest initramfs\ndevice=" + target + "\n";
  if (!dump_dir.empty()) conf += "to=" + dump_dir + "\n";
  if (level >= 0) conf += "dump-level=" + std::to_string(level) + "\n";
  if (!codec.empty()) conf += "codec=" + codec + "\n";
  if (vm->count("keep") != 0) conf += "keep=" + std::to_string(keep) + "\n";
  if (!min_free.empty()) conf += "min-free=" + min_free + "\n";
  if (hold) conf += "hold-unuploaded=yes\n";
  if (!after.empty()) conf += "after=" + after + "\n";
  CaptureConfig check;
  if (auto r = apply_capture_config_text(check, conf, "initramfs config"); !r)
    return cli::usage_error(r.error().message);
  if (check.to == "-") return cli::usage_error("--dump-dir '-': the capture init cannot stream");
  spec.config_text = conf;

  // Drivers of the target when it is a device of this system (offline builds name --module).
  auto dev = find_block_device(target);
  if (dev && *dev) {
    for (const std::string& m : block_device_driver_modules((*dev)->name))
      spec.modules.push_back(m);
    spec.modules.push_back((*dev)->fs.type);
    std::fprintf(stderr, "guestdump-guest: initramfs: target %s is %s (%s)\n", target.c_str(),
                 (*dev)->node.c_str(), (*dev)->fs.type.c_str());
  } else if (spec.modules.empty()) {
    return cli::fail("initramfs: target '" + target +
                     "' is not a device of this system: name its storage and file system "
                     "modules with --module (e.g. --module virtio_blk --module ext4)");
  }

  auto rep = build_initramfs(spec);
  if (!rep) return cli::fail("initramfs '" + spec.output + "': " + rep.error().message);
  std::string mods;
  for (const std::string& m : rep->modules.load_order) mods += (mods.empty() ? "" : " ") + m;
  std::string builtin;
  for (const std::string& m : rep->modules.builtin) builtin += (builtin.empty() ? "" : " ") + m;
  std::printf("wrote %s: %llu bytes (%llu unpacked), kernel %s\n", spec.output.c_str(),
              static_cast<unsigned long long>(rep->archive_bytes),
              static_cast<unsigned long long>(rep->unpacked_bytes), release.c_str());
  std::printf("modules (load order): %s\n", mods.empty() ? "none" : mods.c_str());
  std::printf("built into the kernel: %s\n", builtin.empty() ? "none" : builtin.c_str());
  return 0;
}

} // namespace guestdump::guest
