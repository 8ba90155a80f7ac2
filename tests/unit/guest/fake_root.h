#pragma once
// A fake system root for the guest tests: files under /proc, /sys, /etc and /boot written into
// a temporary directory, plus presets for the machines the planner must handle.

#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "guestdump/guest/apply.h"
#include "temp_dir.h"

namespace guestdump::guest::test {

class FakeRoot {
public:
  const std::string& path() const { return dir_.path(); }
  std::string at(const std::string& p) const { return dir_.path() + p; }

  FakeRoot& file(const std::string& p, const std::string& content, unsigned mode = 0644) {
    std::filesystem::create_directories(std::filesystem::path(at(p)).parent_path());
    std::ofstream(at(p), std::ios::binary) << content;
    ::chmod(at(p).c_str(), mode);
    return *this;
  }
  FakeRoot& dir(const std::string& p) {
    std::filesystem::create_directories(at(p));
    return *this;
  }
  FakeRoot& link(const std::string& p, const std::string& target) {
    std::filesystem::create_directories(std::filesystem::path(at(p)).parent_path());
    std::filesystem::create_symlink(target, at(p));
    return *this;
  }
  std::string read(const std::string& p) const {
    std::ifstream in(at(p), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  bool exists(const std::string& p) const {
    std::error_code ec;
    return std::filesystem::exists(std::filesystem::symlink_status(at(p), ec));
  }

  // ---- building blocks
  FakeRoot& ram_gib(unsigned long long gib, unsigned long long minus_mib = 0) {
    return file("/proc/meminfo",
                "MemTotal:       " + std::to_string(gib * 1024 * 1024 - minus_mib * 1024) +
                    " kB\nMemFree:          123456 kB\n");
  }
  FakeRoot& cpus(const std::string& online) {
    return file("/sys/devices/system/cpu/online", online + "\n");
  }
  FakeRoot& kernel(const std::string& release, bool kexec_file = true) {
    file("/proc/sys/kernel/osrelease", release + "\n");
    return file("/boot/config-" + release,
                std::string("CONFIG_RELOCATABLE=y\n") +
                    (kexec_file ? "CONFIG_KEXEC_FILE=y\n" : "# CONFIG_KEXEC_FILE is not set\n") +
                    "CONFIG_CRASH_DUMP=y\n");
  }
  FakeRoot& dmi(const std::string& vendor, const std::string& product) {
    file("/sys/class/dmi/id/sys_vendor", vendor + "\n");
    return file("/sys/class/dmi/id/product_name", product + "\n");
  }
  FakeRoot& cmdline(const std::string& c) { return file("/proc/cmdline", c + "\n"); }
  FakeRoot& os_release(const std::string& id, const std::string& id_like = "") {
    return file("/etc/os-release", "NAME=\"" + id + "\"\nID=" + id + "\n" +
                                       (id_like.empty() ? "" : "ID_LIKE=\"" + id_like + "\"\n") +
                                       "PRETTY_NAME=\"" + id + " test\"\n");
  }
  // A disk whose sysfs path runs through VMBus device `guid` of controller class `cls`.
  FakeRoot& vmbus_disk(const std::string& dev, const std::string& guid, const std::string& cls) {
    dir("/sys/bus/vmbus/devices/" + guid);
    file("/sys/bus/vmbus/devices/" + guid + "/class_id", "{" + cls + "}\n");
    link("/sys/class/block/" + dev, "../../devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/" +
                                        guid + "/host0/target0:0:0/0:0:0:0/block/" + dev);
    return file("/proc/mounts",
                "/dev/" + dev + " / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n");
  }

  // ---- presets (the machines of the issue)
  static constexpr const char* kIdeClass = "32412632-86cb-44a2-9b5c-50d1417354f5";
  static constexpr const char* kScsiClass = "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f";

  FakeRoot& kvm() {
    dmi("QEMU", "Standard PC (Q35 + ICH9, 2009)");
    link("/sys/class/block/vda", "../../devices/pci0000:00/0000:00:04.0/virtio2/block/vda");
    return file("/proc/mounts", "/dev/vda1 / ext4 rw 0 0\n");
  }
  FakeRoot& xen() {
    file("/sys/hypervisor/type", "xen\n");
    return dmi("Xen", "HVM domU");
  }
  FakeRoot& vmware() { return dmi("VMware, Inc.", "VMware Virtual Platform"); }
  FakeRoot& bare_metal() { return dmi("Dell Inc.", "PowerEdge R650"); }
  // Windows Server 2008 R2 host (build 7601, VMBus 2.4), BIOS VM, OS disk on emulated IDE.
  FakeRoot& hyperv_gen1_old_host() {
    dmi("Microsoft Corporation", "Virtual Machine");
    vmbus_disk("sda", "00000000-0000-8899-0000-000000000000", kIdeClass);
    return file("/var/log/dmesg",
                "[    0.000000] Hypervisor detected: Microsoft Hyper-V\n"
                "[    1.500000] hv_vmbus: Hyper-V Host Build:7601-6.1-17-0.18018; Vmbus "
                "version:2.4\n");
  }
  // Windows Server 2022 host, UEFI VM, every disk on the VMBus SCSI controller.
  FakeRoot& hyperv_gen2_modern() {
    dmi("Microsoft Corporation", "Virtual Machine");
    dir("/sys/firmware/efi");
    vmbus_disk("sda", "f8b3781b-1e82-4818-a1c3-63d806ec15bb", kScsiClass);
    return file("/var/log/dmesg", "[    0.000000] Hyper-V Host Build:20348-10.0-1-0.1583\n"
                                  "[    1.200000] hv_vmbus: Vmbus version:5.3\n");
  }

private:
  guestdump::test::TempDir dir_;
};

/// What `guestdump-guest apply` would do on `root` (detect with CPUID signature `cpuid`, plan
/// with default options, then plan_apply).
inline Result<ApplyActions> apply_actions_for(const FakeRoot& root, ApplyMode mode,
                                              const std::string& cpuid = "KVMKVMKVM") {
  DetectOptions o;
  o.root = root.path();
  o.cpuid_signature = cpuid;
  auto info = detect_system(o);
  if (!info) return std::move(info).error();
  auto plan = make_plan(*info, {});
  if (!plan) return std::move(plan).error();
  return plan_apply(*info, *plan, mode);
}

} // namespace guestdump::guest::test
