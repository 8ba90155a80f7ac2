#pragma once
// What `guestdump-guest detect` finds out about the system it runs on (or about a system image
// under a root directory): hypervisor, firmware, kernel, memory, lockdown, distro tooling and
// the current kdump state. Every probe reads a file under `root`; a missing file leaves its
// field empty ("unknown"), never an error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::guest {

enum class Hypervisor { kNone, kKvm, kQemu, kXen, kHyperV, kVmware };
/// "none", "kvm", "qemu", "xen", "hyperv", "vmware" (the fixed `detect --json` vocabulary).
std::string_view hypervisor_name(Hypervisor h);

enum class DistroFamily { kUnknown, kDebian, kRhel, kSuse };
/// "unknown", "debian", "rhel", "suse".
std::string_view distro_family_name(DistroFamily f);

/// The distro kdump tooling found installed, by its config files or programs under root.
enum class KdumpTooling { kNone, kKdumpTools, kKdumpctl, kSuseKdump };
/// "none", "kdump-tools", "kdumpctl", "suse-kdump".
std::string_view kdump_tooling_name(KdumpTooling t);

struct DetectOptions {
  /// Every path is read under this directory ("/" for the running system).
  std::string root = "/";
  /// The CPUID leaf 0x40000000 vendor signature to use instead of executing CPUID; an empty
  /// string means "no hypervisor leaf".
  std::optional<std::string> cpuid_signature;
  /// Block device (`sda`, `/dev/sda1`) that will receive the dump; default: the device
  /// mounted at (or above) /var/crash.
  std::optional<std::string> dump_target;
};

struct SystemInfo {
  std::string root;

  Hypervisor hypervisor = Hypervisor::kNone;
  std::string hypervisor_evidence; // which probe decided, e.g. "cpuid signature 'KVMKVMKVM'"
  std::optional<std::string> cpuid_signature; // nullopt: no hypervisor CPUID leaf
  std::optional<std::string> sys_hypervisor_type;
  std::optional<std::string> dmi_sys_vendor, dmi_product_name, dmi_product_version, dmi_bios_vendor,
      dmi_bios_version;
  bool vmbus = false;                             // /sys/bus/vmbus exists
  bool efi = false;                               // /sys/firmware/efi exists (UEFI boot)
  std::optional<int> hyperv_generation;           // 1 (BIOS) or 2 (UEFI), Hyper-V only
  std::optional<unsigned> hyperv_host_build;      // e.g. 20348, from "Hyper-V Host Build:"
  std::optional<std::string> hyperv_host_version; // e.g. "10.0"
  std::optional<std::string> vmbus_version;       // negotiated protocol, e.g. "5.3"

  std::optional<std::string> kernel_release;
  std::optional<std::string> kernel_config; // path of the config that was read
  std::optional<bool> config_kexec_file;    // CONFIG_KEXEC_FILE=y
  std::optional<bool> config_crash_dump;    // CONFIG_CRASH_DUMP=y

  std::optional<std::uint64_t> mem_total_bytes; // MemTotal
  std::optional<unsigned> cpus;                 // online CPUs
  std::optional<unsigned> boot_cpu_apicid;      // "initial apicid" of processor 0

  std::optional<std::string> lockdown; // active mode: "none", "integrity", "confidentiality"
  std::optional<bool> secure_boot;     // SecureBoot-* efivar = 1 and SetupMode-* = 0

  std::optional<std::string> distro_id, distro_id_like, distro_name;
  DistroFamily distro_family = DistroFamily::kUnknown;
  KdumpTooling kdump_tooling = KdumpTooling::kNone;
  bool grubby = false;        // /usr/sbin/grubby or /sbin/grubby
  bool grub_defaults = false; // /etc/default/grub

  std::optional<std::string> cmdline;
  std::optional<std::string> crashkernel; // value of crashkernel= in the running cmdline
  std::optional<std::uint64_t> kexec_crash_size;
  std::optional<bool> kexec_crash_loaded;
  std::optional<bool> kexec_load_disabled;

  std::optional<std::string> dump_target;           // block device name, e.g. "sda1"
  std::optional<std::string> dump_target_bus;       // "vmbus-scsi", "vmbus-ide", "vmbus", "virtio",
                                                    // "nvme", "other"
  std::optional<std::uint64_t> capture_initrd_size; // size of the standalone initramfs
};

/// Probes the system under `options.root`. Fails only when root itself is not a directory.
Result<SystemInfo> detect_system(const DetectOptions& options);

/// Maps a CPUID 0x40000000 signature to a hypervisor (nullopt for unknown signatures).
std::optional<Hypervisor> hypervisor_from_cpuid(std::string_view signature);

/// The signature CPUID 0x40000000 reports on this CPU, or "" when leaf 1 says no hypervisor.
std::string read_cpuid_signature();

/// Parses "Hyper-V Host Build:20348-10.0-1-0.1138" (x86) or "Hyper-V: Host Build
/// 10.0.22477.1061-1-0" (arm64) out of a kernel log line; sets build and "major.minor".
bool parse_hyperv_host_build(std::string_view line, unsigned& build, std::string& version);

/// The value of `name=` in a kernel command line (last occurrence, as the kernel does for
/// crashkernel=), or nullopt.
std::optional<std::string> cmdline_value(std::string_view cmdline, std::string_view name);

/// Splits a kernel command line at spaces outside double quotes.
std::vector<std::string> split_cmdline(std::string_view cmdline);

} // namespace guestdump::guest
