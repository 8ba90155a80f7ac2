#pragma once
// `guestdump-guest plan`: the decisions that turn a detected system into a working crash
// capture, each with the reason an operator can check. Pure: no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/guest/system_info.h"

namespace guestdump::guest {

enum class BlacklistMode { kAuto, kAlways, kNever };

struct PlanOptions {
  BlacklistMode hyperv_blacklist = BlacklistMode::kAuto;
};

struct SysctlSetting {
  std::string key; // "kernel.panic_on_oops"
  std::string value;
  std::string reason;
};

struct Plan {
  Hypervisor hypervisor = Hypervisor::kNone;

  std::string crashkernel; // range:size list, e.g. "512M-2G:96M,2G-8G:96M,..."
  std::optional<std::uint64_t> reservation_bytes; // what it reserves on this system
  std::string crashkernel_reason;

  std::vector<std::string> capture_args; // what we append (blacklist included when chosen)
  std::string capture_cmdline;           // running cmdline, stripped, plus capture_args
  std::string capture_cmdline_reason;

  bool hyperv_blacklist = false;
  std::string hyperv_blacklist_reason;

  std::vector<SysctlSetting> sysctls;
  /// Problems that will stop or weaken the capture (no CONFIG_KEXEC_FILE, lockdown, ...).
  std::vector<std::string> warnings;
};

/// The tokens of the Hyper-V legacy blacklist (KB 2858695).
inline constexpr const char* kHypervBlacklistArgs[] = {
    "modprobe.blacklist=hv_vmbus,hv_storvsc,hv_utils,hv_netvsc,hid_hyperv",
    "ata_piix.prefer_ms_hyperv=0"};

/// Fails only for contradictory requests (--hyperv-blacklist=always with the dump target on
/// a VMBus SCSI controller, which the blacklist would remove).
Result<Plan> make_plan(const SystemInfo& info, const PlanOptions& options);

// ---- crashkernel sizing -------------------------------------------------------------------
// Memory the capture kernel needs, modelled like kdumpctl estimate (kernel + 3 x initrd +
// runtime) plus what our capture costs per GiB of the crashed system's RAM:
//   need = kKernelBytes + 3 x initrd + kCaptureWorkBytes + RAM x kPerGibBytes / GiB
//          + cpus x kPerCpuBytes, then + 20% margin, rounded up to 8 MiB.
// Calibrated on the e2e measurement (docs/performance.md): a 2 GiB, 2-vCPU guest with the
// Debian 6.1 cloud kernel, a 1.8 MB capture initramfs and plan's command line captures with
// 64M and not with 60M; the formula gives 62.2M for it, 80M with the margin.
/// Kernel image, memblock reservations and slab of the capture kernel (measured with plan's
/// command line: 49.1M reserved at boot, of which 32.3M is the image, 4M the memmap of the
/// reservation's whole 128M sections and 1.8M the initramfs; ~5M slab after boot).
inline constexpr std::uint64_t kKernelBytes = 52ull << 20;
/// Assumed capture initramfs size when it has not been built yet (the e2e one: 1.8 MB).
inline constexpr std::uint64_t kDefaultInitrdBytes = 2ull << 20;
/// The capture process: the kdump writer's chunk slots (touched only as far as the compressed
/// data fills them), the reader's 256 KiB window, the codec's context and the kernel log.
inline constexpr std::uint64_t kCaptureWorkBytes = 4ull << 20;
/// Per GiB of crashed RAM: the page bitmaps (RAM, available, dumpable, the filter's; 32 KiB
/// each per GiB) with room to spare. /proc/vmcore is read with pread, never mapped: a mapping
/// would add 2 MiB of page tables per GiB.
inline constexpr std::uint64_t kPerGibBytes = 256ull << 10;
/// Per CPU of the crashed system: its NT_PRSTATUS note and ELF header entries in the
/// elfcorehdr the capture kernel reads, rounded up generously.
inline constexpr std::uint64_t kPerCpuBytes = 16ull << 10;

/// Bytes the capture kernel needs for a crashed system with `ram_bytes` and `cpus`.
std::uint64_t crashkernel_need(std::uint64_t ram_bytes, unsigned cpus, std::uint64_t initrd_bytes);
/// The range:size list covering every RAM size from 512M up (the open-ended last range is sized
/// for max(ram_bytes, 16T)).
std::string crashkernel_ranges(unsigned cpus, std::uint64_t initrd_bytes, std::uint64_t ram_bytes);
/// What a crashkernel= value reserves on a system with `ram_bytes`, with the kernel's rules:
/// RAM rounded up to 128M, ranges start <= RAM < end. 0 when no range matches; nullopt when the
/// value cannot be parsed.
std::optional<std::uint64_t> crashkernel_reservation(const std::string& value,
                                                     std::uint64_t ram_bytes);
/// "96M", "1G": the kernel's memparse syntax, exact.
std::string format_size(std::uint64_t bytes);

/// Replaces or removes the value of `key` in a kernel command line: "crashkernel=...". Tokens
/// named in `remove` (by key, or exact token) are dropped. Order of other tokens kept.
std::string edit_cmdline(const std::string& cmdline, const std::vector<std::string>& remove,
                         const std::vector<std::string>& append);

} // namespace guestdump::guest
