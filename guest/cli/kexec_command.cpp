// guestdump-guest load / unload / status.

#include <iostream>

#include "cli.h"
#include "commands.h"
#include "guestdump/guest/kexec.h"
#include "guestdump/guest/paths.h"
#include "report.h"

namespace po = boost::program_options;

namespace guestdump::guest {

namespace {

KexecContext context_of(const SystemInfo& info) {
  KexecContext ctx;
  ctx.lockdown = info.lockdown;
  ctx.secure_boot = info.secure_boot;
  ctx.crash_size = info.kexec_crash_size;
  ctx.load_disabled = info.kexec_load_disabled;
  return ctx;
}

} // namespace

int run_load(const std::vector<std::string>& args) {
  po::options_description desc("load options");
  desc.add_options()("help,h", "show this help")(
      "kernel", po::value<std::string>(), "capture kernel (default /boot/vmlinuz-$(uname -r))")(
      "initrd", po::value<std::string>(),
      "capture initramfs (default /var/lib/guestdump/capture-initrd-$(uname -r).img)")(
      "cmdline", po::value<std::string>(), "capture command line (default: from plan)")(
      "hyperv-blacklist", po::value<std::string>()->default_value("auto"),
      "auto|always|never (as for plan)");
  int code = 0;
  auto vm = cli::parse_args(args, desc, {},
                            "usage: guestdump-guest load [--kernel PATH] [--initrd PATH] "
                            "[--cmdline STRING]",
                            code);
  if (!vm) return code;
  PlanOptions popt;
  if (!blacklist_mode_from(*vm, popt.hyperv_blacklist))
    return cli::usage_error("--hyperv-blacklist must be auto, always or never");
  auto info = detect_system(DetectOptions{});
  if (!info) return cli::fail(info.error().what());
  KexecContext ctx = context_of(*info);
  ctx.kernel_path = vm->count("kernel") != 0
                        ? (*vm)["kernel"].as<std::string>()
                        : "/boot/vmlinuz-" + info->kernel_release.value_or("unknown");
  ctx.initrd_path = vm->count("initrd") != 0
                        ? (*vm)["initrd"].as<std::string>()
                        : capture_initrd_for(info->kernel_release.value_or("unknown"));
  std::string cmdline;
  if (vm->count("cmdline") != 0) {
    cmdline = (*vm)["cmdline"].as<std::string>();
  } else {
    auto plan = make_plan(*info, popt);
    if (!plan) return cli::fail(plan.error().what());
    cmdline = plan->capture_cmdline;
  }
  if (auto r = load_crash_kernel(cmdline, ctx); !r) return cli::fail(r.error().what());
  std::cout << "capture kernel loaded: " << ctx.kernel_path << " + " << ctx.initrd_path << "\n"
            << "command line: " << cmdline << "\n";
  return 0;
}

int run_unload(const std::vector<std::string>& args) {
  po::options_description desc("unload options");
  desc.add_options()("help,h", "show this help");
  int code = 0;
  auto vm = cli::parse_args(args, desc, {}, "usage: guestdump-guest unload", code);
  if (!vm) return code;
  auto info = detect_system(DetectOptions{});
  if (!info) return cli::fail(info.error().what());
  KexecContext ctx = context_of(*info);
  ctx.unload = true;
  if (auto r = unload_crash_kernel(ctx); !r) return cli::fail(r.error().what());
  std::cout << "capture kernel unloaded\n";
  return 0;
}

int run_status(const std::vector<std::string>& args) {
  po::options_description desc("status options");
  desc.add_options()("help,h", "show this help")("json", "print one JSON object")(
      "root", po::value<std::string>()->default_value("/"), "read /sys and /proc under DIR");
  int code = 0;
  auto vm = cli::parse_args(args, desc, {}, "usage: guestdump-guest status [--json]", code);
  if (!vm) return code;
  DetectOptions dopt;
  dopt.root = (*vm)["root"].as<std::string>();
  dopt.cpuid_signature = std::string(); // status needs no hypervisor probe
  auto info = detect_system(dopt);
  if (!info) return cli::fail(info.error().what());
  const auto& i = *info;
  const std::string initrd = capture_initrd_for(i.kernel_release.value_or("unknown"));
  if (vm->count("json") != 0) {
    nlohmann::json j;
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    j["kexec_crash_loaded"] = opt(i.kexec_crash_loaded);
    j["kexec_crash_size"] = opt(i.kexec_crash_size);
    j["crashkernel"] = opt(i.crashkernel);
    j["lockdown"] = opt(i.lockdown);
    j["capture_initrd"] = initrd;
    j["capture_initrd_bytes"] = opt(i.capture_initrd_size);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "capture kernel:   "
            << (i.kexec_crash_loaded ? (*i.kexec_crash_loaded ? "loaded" : "not loaded")
                                     : "unknown (no /sys/kernel/kexec_crash_loaded)")
            << "\n"
            << "reservation:      "
            << (i.kexec_crash_size ? std::to_string(*i.kexec_crash_size >> 20) + " MiB" +
                                         (*i.kexec_crash_size == 0 ? " (none: add crashkernel= "
                                                                     "and reboot)"
                                                                   : "")
                                   : "unknown (no /sys/kernel/kexec_crash_size)")
            << "\n"
            << "crashkernel=:     " << i.crashkernel.value_or("not set") << "\n"
            << "capture initrd:   " << initrd
            << (i.capture_initrd_size ? "" : " (missing: run guestdump-guest initramfs)") << "\n";
  return 0;
}

} // namespace guestdump::guest
