// detect against fake system roots: hypervisor from CPUID/sysfs/DMI, Hyper-V generation and
// host, kernel config, memory, CPUs, lockdown, Secure Boot, distro tooling, dump target bus.

#include <gtest/gtest.h>
#include <zlib.h>

#include "fake_root.h"
#include "guestdump/guest/system_info.h"

namespace guestdump::guest {
namespace {

using test::FakeRoot;

SystemInfo detect(const FakeRoot& r, std::optional<std::string> sig = std::string()) {
  DetectOptions o;
  o.root = r.path();
  o.cpuid_signature = std::move(sig);
  auto info = detect_system(o);
  EXPECT_TRUE(info) << (info ? "" : info.error().what());
  return *info;
}

TEST(Detect, KvmFromCpuid) {
  FakeRoot r;
  r.kvm();
  auto i = detect(r, std::string("KVMKVMKVM\0\0\0", 12));
  EXPECT_EQ(i.hypervisor, Hypervisor::kKvm);
  EXPECT_EQ(i.dump_target, "vda1");
}

TEST(Detect, TcgSignatureAndQemuDmiWithoutLeafAreQemu) {
  FakeRoot r;
  r.kvm();
  EXPECT_EQ(detect(r, "TCGTCGTCGTCG").hypervisor, Hypervisor::kQemu);
  // TCG without a hypervisor leaf: only DMI says QEMU.
  auto i = detect(r, "");
  EXPECT_EQ(i.hypervisor, Hypervisor::kQemu);
  EXPECT_FALSE(i.cpuid_signature);
  EXPECT_NE(i.hypervisor_evidence.find("dmi"), std::string::npos);
}

TEST(Detect, XenFromSysHypervisor) {
  FakeRoot r;
  r.xen();
  auto i = detect(r, "");
  EXPECT_EQ(i.hypervisor, Hypervisor::kXen);
  EXPECT_EQ(i.sys_hypervisor_type, "xen");
  EXPECT_EQ(detect(r, "XenVMMXenVMM").hypervisor, Hypervisor::kXen);
}

TEST(Detect, VmwareAndBareMetal) {
  FakeRoot vm;
  vm.vmware();
  EXPECT_EQ(detect(vm, "VMwareVMware").hypervisor, Hypervisor::kVmware);
  EXPECT_EQ(detect(vm, "").hypervisor, Hypervisor::kVmware); // DMI alone
  FakeRoot metal;
  metal.bare_metal();
  EXPECT_EQ(detect(metal, "").hypervisor, Hypervisor::kNone);
}

TEST(Detect, HyperVGen1OldHost) {
  FakeRoot r;
  r.hyperv_gen1_old_host();
  auto i = detect(r, "Microsoft Hv");
  EXPECT_EQ(i.hypervisor, Hypervisor::kHyperV);
  EXPECT_EQ(i.hyperv_generation, 1);
  EXPECT_EQ(i.hyperv_host_build, 7601u);
  EXPECT_EQ(i.hyperv_host_version, "6.1");
  EXPECT_EQ(i.vmbus_version, "2.4");
  EXPECT_EQ(i.dump_target, "sda");
  EXPECT_EQ(i.dump_target_bus, "vmbus-ide");
  // VMBus alone (no CPUID input) also means Hyper-V.
  EXPECT_EQ(detect(r, "").hypervisor, Hypervisor::kHyperV);
}

TEST(Detect, HyperVGen2Modern) {
  FakeRoot r;
  r.hyperv_gen2_modern();
  auto i = detect(r, "Microsoft Hv");
  EXPECT_EQ(i.hypervisor, Hypervisor::kHyperV);
  EXPECT_EQ(i.hyperv_generation, 2);
  EXPECT_EQ(i.hyperv_host_build, 20348u);
  EXPECT_EQ(i.vmbus_version, "5.3");
  EXPECT_EQ(i.dump_target_bus, "vmbus-scsi");
}

TEST(Detect, MicrosoftHvSignatureOnQemuIsKvmWithEnlightenments) {
  FakeRoot r;
  r.kvm();
  EXPECT_EQ(detect(r, "Microsoft Hv").hypervisor, Hypervisor::kKvm);
}

TEST(Detect, HostBuildLineFormats) {
  unsigned build = 0;
  std::string version;
  ASSERT_TRUE(parse_hyperv_host_build("hv_vmbus: Hyper-V Host Build:18362-10.0-3-0.3294; Vmbus "
                                      "version:3.0",
                                      build, version));
  EXPECT_EQ(build, 18362u);
  EXPECT_EQ(version, "10.0");
  ASSERT_TRUE(parse_hyperv_host_build("Hyper-V: Host Build 10.0.22477.1061-1-0", build, version));
  EXPECT_EQ(build, 22477u);
  EXPECT_FALSE(parse_hyperv_host_build("Hyper-V: features 0x2e7f", build, version));
}

TEST(Detect, EmptyRootIsAllUnknownNotAnError) {
  FakeRoot r;
  auto i = detect(r, "");
  EXPECT_EQ(i.hypervisor, Hypervisor::kNone);
  EXPECT_FALSE(i.kernel_release);
  EXPECT_FALSE(i.mem_total_bytes);
  EXPECT_FALSE(i.cpus);
  EXPECT_FALSE(i.config_kexec_file);
  EXPECT_FALSE(i.lockdown);
  EXPECT_EQ(i.distro_family, DistroFamily::kUnknown);
  EXPECT_EQ(i.kdump_tooling, KdumpTooling::kNone);
}

TEST(Detect, MissingRootNamesIt) {
  DetectOptions o;
  o.root = "/nonexistent/guestdump-root";
  auto i = detect_system(o);
  ASSERT_FALSE(i);
  EXPECT_NE(i.error().what().find("/nonexistent/guestdump-root"), std::string::npos);
}

TEST(Detect, KernelMemoryCpus) {
  FakeRoot r;
  r.kernel("6.1.0-18-cloud-amd64").ram_gib(4, 180).cpus("0-3,6");
  r.file("/proc/cpuinfo", "processor\t: 0\ninitial apicid\t: 2\n\nprocessor\t: 1\ninitial "
                          "apicid\t: 3\n");
  auto i = detect(r);
  EXPECT_EQ(i.kernel_release, "6.1.0-18-cloud-amd64");
  EXPECT_EQ(i.kernel_config, "/boot/config-6.1.0-18-cloud-amd64");
  EXPECT_EQ(i.config_kexec_file, true);
  EXPECT_EQ(i.config_crash_dump, true);
  EXPECT_EQ(i.mem_total_bytes, (4ull << 30) - (180ull << 20));
  EXPECT_EQ(i.cpus, 5u);
  EXPECT_EQ(i.boot_cpu_apicid, 2u);
}

TEST(Detect, ProcConfigGzWithoutKexecFile) {
  FakeRoot r;
  r.file("/proc/sys/kernel/osrelease", "5.4.0-custom\n").dir("/proc");
  const std::string cfg = "CONFIG_CRASH_DUMP=y\n# CONFIG_KEXEC_FILE is not set\n";
  gzFile f = gzopen(r.at("/proc/config.gz").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, cfg.data(), static_cast<unsigned>(cfg.size()));
  gzclose(f);
  auto i = detect(r);
  EXPECT_EQ(i.kernel_config, "/proc/config.gz");
  EXPECT_EQ(i.config_kexec_file, false);
  EXPECT_EQ(i.config_crash_dump, true);
}

TEST(Detect, LockdownAndSecureBoot) {
  FakeRoot r;
  r.file("/sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
  r.dir("/sys/firmware/efi");
  const std::string guid = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
  r.file("/sys/firmware/efi/efivars/SecureBoot-" + guid, std::string("\x06\0\0\0\x01", 5));
  r.file("/sys/firmware/efi/efivars/SetupMode-" + guid, std::string("\x06\0\0\0\x00", 5));
  auto i = detect(r);
  EXPECT_EQ(i.lockdown, "integrity");
  EXPECT_EQ(i.secure_boot, true);
  r.file("/sys/firmware/efi/efivars/SetupMode-" + guid, std::string("\x06\0\0\0\x01", 5));
  EXPECT_EQ(detect(r).secure_boot, false); // setup mode: not enforced
}

TEST(Detect, DistroFamiliesAndTooling) {
  FakeRoot deb;
  deb.os_release("ubuntu", "debian").file("/etc/default/kdump-tools", "USE_KDUMP=0\n");
  EXPECT_EQ(detect(deb).distro_family, DistroFamily::kDebian);
  EXPECT_EQ(detect(deb).kdump_tooling, KdumpTooling::kKdumpTools);
  FakeRoot rhel;
  rhel.os_release("rocky", "rhel centos fedora")
      .file("/usr/bin/kdumpctl", "")
      .file("/etc/sysconfig/kdump", "");
  EXPECT_EQ(detect(rhel).distro_family, DistroFamily::kRhel);
  EXPECT_EQ(detect(rhel).kdump_tooling, KdumpTooling::kKdumpctl);
  FakeRoot suse;
  suse.os_release("sles", "suse").file("/etc/sysconfig/kdump", "");
  EXPECT_EQ(detect(suse).distro_family, DistroFamily::kSuse);
  EXPECT_EQ(detect(suse).kdump_tooling, KdumpTooling::kSuseKdump);
  FakeRoot other;
  other.os_release("alpine");
  EXPECT_EQ(detect(other).distro_family, DistroFamily::kUnknown);
  EXPECT_EQ(detect(other).distro_id, "alpine");
}

TEST(Detect, KexecState) {
  FakeRoot r;
  r.cmdline("BOOT_IMAGE=/vmlinuz root=/dev/sda1 crashkernel=256M ro crashkernel=512M-:192M");
  r.file("/sys/kernel/kexec_crash_size", "201326592\n")
      .file("/sys/kernel/kexec_crash_loaded", "1\n");
  auto i = detect(r);
  EXPECT_EQ(i.crashkernel, "512M-:192M"); // the last one, as the kernel parses it
  EXPECT_EQ(i.kexec_crash_size, 192ull << 20);
  EXPECT_EQ(i.kexec_crash_loaded, true);
}

TEST(Detect, DumpTargetThroughLvmSlaves) {
  FakeRoot r;
  r.hyperv_gen2_modern();
  r.link("/dev/mapper/vg-crash", "../dm-0");
  r.dir("/sys/devices/virtual/block/dm-0/slaves/sda");
  r.link("/sys/class/block/dm-0", "../../devices/virtual/block/dm-0");
  r.file("/proc/mounts", "/dev/vda1 / ext4 rw 0 0\n/dev/mapper/vg-crash /var/crash xfs rw 0 0\n");
  auto i = detect(r, "Microsoft Hv");
  EXPECT_EQ(i.dump_target, "dm-0");
  EXPECT_EQ(i.dump_target_bus, "vmbus-scsi");
}

TEST(Detect, DumpTargetWithoutSysfsEntryHasUnknownBus) {
  FakeRoot r;
  r.file("/proc/mounts", "/dev/sdz1 / ext4 rw 0 0\n");
  auto i = detect(r);
  EXPECT_EQ(i.dump_target, "sdz1");
  EXPECT_FALSE(i.dump_target_bus);
}

TEST(Detect, DumpTargetOverride) {
  FakeRoot r;
  r.hyperv_gen1_old_host();
  r.vmbus_disk("sdb", "11111111-2222-3333-4444-555555555555", FakeRoot::kScsiClass);
  DetectOptions o;
  o.root = r.path();
  o.cpuid_signature = "Microsoft Hv";
  o.dump_target = "/dev/sdb";
  auto i = detect_system(o);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->dump_target, "sdb");
  EXPECT_EQ(i->dump_target_bus, "vmbus-scsi");
}

} // namespace
} // namespace guestdump::guest
