// The planning rules; see plan.h and docs/guest.md ("Decisions").

#include "guestdump/guest/plan.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace guestdump::guest {

namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kTiB = 1ull << 40;

std::string key_of(const std::string& token) {
  auto eq = token.find('=');
  return eq == std::string::npos ? token : token.substr(0, eq);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) s += (s.empty() ? "" : " ") + t;
  return s;
}

// Kernel version "4.6.0-..." -> {4, 6}.
std::optional<std::pair<int, int>> kernel_version(const std::optional<std::string>& release) {
  int a = 0, b = 0;
  if (!release || std::sscanf(release->c_str(), "%d.%d", &a, &b) != 2) return std::nullopt;
  return std::pair{a, b};
}

std::optional<std::pair<int, int>> dotted(const std::optional<std::string>& v) {
  int a = 0, b = 0;
  if (!v || std::sscanf(v->c_str(), "%d.%d", &a, &b) != 2) return std::nullopt;
  return std::pair{a, b};
}

// Tokens of the running command line that must not reach the capture kernel (memory
// reservations and pools it cannot afford, panics it must not take, our own keys).
const std::vector<std::string> kStripped = {"crashkernel",   "hugepages",
                                            "hugepagesz",    "default_hugepagesz",
                                            "cma",           "hugetlb_cma",
                                            "panic_on_warn", "quiet",
                                            "BOOT_IMAGE",    "initrd",
                                            "resume",        "unknown_nmi_panic",
                                            "console=hvc0",  "kfence.sample_interval",
                                            "init",          "rdinit"};

} // namespace

std::string format_size(std::uint64_t b) {
  if (b != 0 && b % kTiB == 0) return std::to_string(b / kTiB) + "T";
  if (b != 0 && b % kGiB == 0) return std::to_string(b / kGiB) + "G";
  if (b % kMiB == 0) return std::to_string(b / kMiB) + "M";
  return std::to_string(b / 1024) + "K";
}

std::uint64_t crashkernel_need(std::uint64_t ram_bytes, unsigned cpus, std::uint64_t initrd_bytes) {
  // A GiB holds 262144 pages of 4 KiB.
  const std::uint64_t per_ram = (ram_bytes / 4096) * kPerGibBytes / 262144;
  const std::uint64_t need = kKernelBytes + 3 * initrd_bytes + kCaptureWorkBytes + per_ram +
                             static_cast<std::uint64_t>(cpus) * kPerCpuBytes;
  const std::uint64_t with_margin = need + need / 5;
  const std::uint64_t step = 8 * kMiB;
  return (with_margin + step - 1) / step * step;
}

std::string crashkernel_ranges(unsigned cpus, std::uint64_t initrd_bytes, std::uint64_t ram_bytes) {
  // Each range is sized for its largest RAM, so the value stays right when the VM is resized.
  // Doubling ranges: a "2 GiB" guest rounds up to exactly 2G and so pays for at most 4G.
  const std::uint64_t bounds[] = {512 * kMiB, 1 * kGiB,  2 * kGiB,  4 * kGiB,   8 * kGiB,
                                  16 * kGiB,  32 * kGiB, 64 * kGiB, 128 * kGiB, 256 * kGiB,
                                  512 * kGiB, 1 * kTiB,  2 * kTiB,  4 * kTiB,   8 * kTiB};
  std::string out;
  const std::size_t n = std::size(bounds);
  for (std::size_t i = 0; i + 1 < n; ++i)
    out += format_size(bounds[i]) + "-" + format_size(bounds[i + 1]) + ":" +
           format_size(crashkernel_need(bounds[i + 1], cpus, initrd_bytes)) + ",";
  out += format_size(bounds[n - 1]) + "-:" +
         format_size(crashkernel_need(std::max(ram_bytes, 2 * bounds[n - 1]), cpus, initrd_bytes));
  return out;
}

namespace {

std::optional<std::uint64_t> memparse(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (...) {
    return std::nullopt;
  }
  std::string suffix = s.substr(pos);
  if (suffix.empty()) return v;
  if (suffix.size() != 1) return std::nullopt;
  switch (suffix[0]) {
  case 'K':
  case 'k':
    return v << 10;
  case 'M':
  case 'm':
    return v << 20;
  case 'G':
  case 'g':
    return v << 30;
  case 'T':
  case 't':
    return v << 40;
  default:
    return std::nullopt;
  }
}

} // namespace

std::optional<std::uint64_t> crashkernel_reservation(const std::string& value,
                                                     std::uint64_t ram_bytes) {
  std::string v = value;
  if (auto at = v.find('@'); at != std::string::npos) v = v.substr(0, at);
  if (v.find(':') == std::string::npos) {
    if (auto c = v.find(','); c != std::string::npos) v = v.substr(0, c); // size,high
    return memparse(v);
  }
  // The kernel rounds System RAM up to 128M before matching (crash_reserve.c).
  const std::uint64_t ram = (ram_bytes + 128 * kMiB - 1) / (128 * kMiB) * (128 * kMiB);
  std::stringstream ss(v);
  std::string range;
  while (std::getline(ss, range, ',')) {
    auto colon = range.find(':'), dash = range.find('-');
    if (colon == std::string::npos || dash == std::string::npos || dash > colon)
      return std::nullopt;
    auto start = memparse(range.substr(0, dash));
    std::string end_s = range.substr(dash + 1, colon - dash - 1);
    auto end = end_s.empty() ? std::optional<std::uint64_t>(UINT64_MAX) : memparse(end_s);
    auto size = memparse(range.substr(colon + 1));
    if (!start || !end || !size) return std::nullopt;
    if (ram >= *start && ram < *end) return *size;
  }
  return 0;
}

std::string edit_cmdline(const std::string& cmdline, const std::vector<std::string>& remove,
                         const std::vector<std::string>& append) {
  std::vector<std::string> out;
  for (const std::string& tok : split_cmdline(cmdline)) {
    bool drop = std::any_of(remove.begin(), remove.end(), [&](const std::string& r) {
      return r == tok || (r.find('=') == std::string::npos && key_of(tok) == r);
    });
    // An appended key replaces the running one ("nr_cpus=1" drops "nr_cpus=4").
    drop = drop || std::any_of(append.begin(), append.end(), [&](const std::string& a) {
             return a == tok || (a.find('=') != std::string::npos && key_of(a) == key_of(tok));
           });
    if (!drop) out.push_back(tok);
  }
  for (const auto& a : append) out.push_back(a);
  return join(out);
}

Result<Plan> make_plan(const SystemInfo& info, const PlanOptions& opt) {
  Plan plan;
  plan.hypervisor = info.hypervisor;

  // ---- crashkernel
  const unsigned cpus = info.cpus.value_or(1);
  const std::uint64_t initrd = info.capture_initrd_size.value_or(kDefaultInitrdBytes);
  const std::uint64_t ram = info.mem_total_bytes.value_or(0);
  plan.crashkernel = crashkernel_ranges(cpus, initrd, ram);
  std::ostringstream why;
  why << "capture kernel need = kernel " << format_size(kKernelBytes) << " + 3 x initramfs ("
      << (info.capture_initrd_size ? "built, " : "not built yet, assumed ")
      << format_size((initrd + 1023) / 1024 * 1024) << ") + capture buffers "
      << format_size(kCaptureWorkBytes) << " + " << format_size(kPerGibBytes)
      << " per GiB of RAM (page bitmaps) + " << format_size(kPerCpuBytes) << " per CPU (" << cpus
      << (info.cpus ? "" : " assumed")
      << "), +20%, rounded up to 8M (calibrated: a 2 GiB guest captures with 64M); each range "
         "is sized for its largest RAM";
  if (info.mem_total_bytes) {
    plan.reservation_bytes = crashkernel_reservation(plan.crashkernel, ram);
    why << "; this system (" << (ram >> 20) << " MiB) gets "
        << format_size(plan.reservation_bytes.value_or(0));
  } else {
    why << "; RAM unknown (no /proc/meminfo)";
  }
  if (info.crashkernel) why << "; currently crashkernel=" << *info.crashkernel;
  plan.crashkernel_reason = why.str();

  // ---- Hyper-V legacy blacklist
  const bool hyperv = info.hypervisor == Hypervisor::kHyperV;
  const std::string bus = info.dump_target_bus.value_or("");
  const bool target_on_vmbus_scsi =
      hyperv && (info.hyperv_generation == 2 || bus == "vmbus-scsi" || bus == "vmbus");
  const std::string target_name =
      info.dump_target ? "dump target '" + *info.dump_target + "'" : "dump target";
  if (opt.hyperv_blacklist == BlacklistMode::kNever) {
    plan.hyperv_blacklist_reason = "--hyperv-blacklist=never";
  } else if (opt.hyperv_blacklist == BlacklistMode::kAlways) {
    if (target_on_vmbus_scsi)
      return make_error(
          ErrorCode::kInvalidArgument,
          "--hyperv-blacklist=always: the " + target_name + " sits behind VMBus (" +
              (info.hyperv_generation == 2 ? std::string("Generation 2 VM") : "bus " + bus) +
              "); blacklisting hv_vmbus/hv_storvsc would leave the capture "
              "kernel without it");
    plan.hyperv_blacklist = true;
    plan.hyperv_blacklist_reason = "--hyperv-blacklist=always";
  } else if (!hyperv) {
    plan.hyperv_blacklist_reason = "not Hyper-V";
  } else if (target_on_vmbus_scsi) {
    plan.hyperv_blacklist_reason =
        "the " + target_name + " sits behind VMBus (" +
        (info.hyperv_generation == 2 ? std::string("Generation 2 VM: no emulated IDE")
                                     : "bus " + bus) +
        "): the capture kernel needs hv_vmbus and hv_storvsc";
  } else {
    // KB 2858695: hosts before Windows Server 2012 R2 (build 9600, VMBus protocol 3.0) and
    // kernels before 4.6 (VMBus reconnect after kexec) cannot reopen the synthetic devices.
    auto kv = kernel_version(info.kernel_release);
    auto vv = dotted(info.vmbus_version);
    std::vector<std::string> needed;
    if (kv && *kv < std::pair{4, 6})
      needed.push_back("kernel " + *info.kernel_release + " predates VMBus reconnect (4.6)");
    if (info.hyperv_host_build && *info.hyperv_host_build < 9600)
      needed.push_back("host build " + std::to_string(*info.hyperv_host_build) +
                       " predates Windows Server 2012 R2 (9600)");
    if (vv && *vv < std::pair{3, 0})
      needed.push_back("VMBus protocol " + *info.vmbus_version + " < 3.0 (old host)");
    if (!needed.empty()) {
      plan.hyperv_blacklist = true;
      std::string r;
      for (const auto& n : needed) r += (r.empty() ? "" : "; ") + n;
      plan.hyperv_blacklist_reason =
          r + "; Generation 1 " + target_name +
          (bus == "vmbus-ide"
               ? std::string(" is on the emulated IDE controller, which ata_piix takes over with "
                             "prefer_ms_hyperv=0")
           : bus.empty() ? std::string(" has no sysfs entry (bus unknown): assumed to be the "
                                       "emulated IDE disk; give --dump-target or "
                                       "--hyperv-blacklist=never if it is not")
                         : " is on bus '" + bus + "', not VMBus");
    } else {
      plan.hyperv_blacklist_reason =
          "kernel " + info.kernel_release.value_or("(unknown)") + " and host build " +
          (info.hyperv_host_build ? std::to_string(*info.hyperv_host_build) : "(unknown)") +
          " reconnect VMBus after kexec";
    }
  }

  // ---- capture command line
  plan.capture_args = {"irqpoll",
                       "nr_cpus=1",
                       "reset_devices",
                       "usbcore.nousb",
                       "cgroup_disable=memory",
                       "numa=off",
                       "transparent_hugepage=never",
                       "cma=0",
                       "hugetlb_cma=0",
                       "novmcoredd",
                       "mce=off",
                       "hest_disable",
                       "acpi_no_memhotplug",
                       "pcie_ports=compat",
                       "nokaslr",
                       "kfence.sample_interval=0",
                       "percpu_alloc=page",
                       "initcall_blacklist=tracer_init_tracefs",
                       "panic=10"};
  if (info.boot_cpu_apicid)
    plan.capture_args.push_back("disable_cpu_apicid=" + std::to_string(*info.boot_cpu_apicid));
  if (plan.hyperv_blacklist)
    for (const char* a : kHypervBlacklistArgs) plan.capture_args.emplace_back(a);
  std::vector<std::string> strip = kStripped;
  if (!plan.hyperv_blacklist)
    for (const char* a : kHypervBlacklistArgs) strip.emplace_back(a);
  // Words after "--" are arguments of the first kernel's init, not kernel parameters.
  std::string running;
  for (const std::string& tok : split_cmdline(info.cmdline.value_or(""))) {
    if (tok == "--") break;
    running += (running.empty() ? "" : " ") + tok;
  }
  plan.capture_cmdline = edit_cmdline(running, strip, plan.capture_args);
  plan.capture_cmdline_reason =
      "the running command line (up to \"--\") without crashkernel/hugepages/cma/quiet/"
      "resume/init/rdinit/"
      "unknown_nmi_panic (memory the capture kernel cannot spare, panics it must not take), "
      "plus one CPU (nr_cpus=1), irqpoll and reset_devices for devices left mid-transfer, "
      "memory trimming (cgroup_disable=memory numa=off transparent_hugepage=never cma=0 "
      "hugetlb_cma=0 novmcoredd; kfence.sample_interval=0 drops KFENCE's 2M pool, "
      "percpu_alloc=page its 2M percpu unit, initcall_blacklist=tracer_init_tracefs the ~8M of "
      "tracefs event inodes that made a 64M capture kernel run out of memory before /init) and "
      "panic=10 so a failing capture kernel reboots";

  // ---- panic knobs
  plan.sysctls = {
      {"kernel.panic_on_oops", "1", "an oops or BUG becomes a panic, hence a dump"},
      {"kernel.unknown_nmi_panic", "1",
       "a hypervisor 'send NMI' (Azure serial console, GCP diagnostic interrupt, virsh "
       "inject-nmi) arrives as an unknown NMI; on Hyper-V this also lets only the first CPU "
       "panic"},
      {"kernel.panic_on_unrecovered_nmi", "1",
       "the knob Microsoft's Azure documentation names for NMI-triggered dumps"},
      {"kernel.softlockup_panic", "1",
       "a CPU stuck in the kernel for 2 x watchdog_thresh is a kernel bug; the dump is the "
       "evidence"},
      {"kernel.hung_task_panic", "0",
       "left off: tasks blocked on slow or throttled cloud disks would panic the guest"},
      {"kernel.sysrq", "1",
       "serial-console SysRq ('Send SysRq Command', 'c' for crash) needs it; "
       "/proc/sysrq-trigger works regardless"},
  };

  // ---- what will stop or weaken the capture
  if (info.config_kexec_file == false)
    plan.warnings.push_back("kernel " + info.kernel_release.value_or("") +
                            " is built without CONFIG_KEXEC_FILE (" +
                            info.kernel_config.value_or("") +
                            "): guestdump-guest load cannot load a capture kernel; distro "
                            "kdump with kexec_load still can, unless lockdown is on");
  if (info.config_crash_dump == false)
    plan.warnings.push_back("kernel is built without CONFIG_CRASH_DUMP (" +
                            info.kernel_config.value_or("") +
                            "): it cannot reserve crashkernel memory or boot as capture kernel");
  if (info.lockdown && *info.lockdown != "none")
    plan.warnings.push_back("kernel lockdown '" + *info.lockdown +
                            "': only a signed capture kernel loads (the distro's "
                            "/boot/vmlinuz-" +
                            info.kernel_release.value_or("<release>") +
                            "); kexec_load-based tooling is refused");
  else if (info.secure_boot == true)
    plan.warnings.push_back("Secure Boot is on: the capture kernel must be distro-signed");
  if (info.kexec_load_disabled == true)
    plan.warnings.push_back(
        "kernel.kexec_load_disabled=1: no capture kernel can be loaded until reboot");
  if (info.mem_total_bytes && plan.reservation_bytes && *plan.reservation_bytes == 0)
    plan.warnings.push_back("RAM below 512M: no crashkernel range applies");
  return plan;
}

} // namespace guestdump::guest
