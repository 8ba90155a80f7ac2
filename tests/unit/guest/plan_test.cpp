// plan: crashkernel sizing for 1/4/64/512 GiB, the capture command line, the Hyper-V blacklist
// rules on each machine type, panic knobs and the warnings for unusable kernels.

#include "guestdump/guest/plan.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "fake_root.h"

namespace guestdump::guest {
namespace {

using test::FakeRoot;

SystemInfo detect(const FakeRoot& r, const std::string& sig = "") {
  DetectOptions o;
  o.root = r.path();
  o.cpuid_signature = sig;
  auto info = detect_system(o);
  EXPECT_TRUE(info);
  return *info;
}

Plan plan_for(const FakeRoot& r, const std::string& sig = "",
              BlacklistMode mode = BlacklistMode::kAuto) {
  PlanOptions o;
  o.hyperv_blacklist = mode;
  auto p = make_plan(detect(r, sig), o);
  EXPECT_TRUE(p) << (p ? "" : p.error().what());
  return *p;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

// Expected values worked out by hand from the formula in plan.h (initramfs not built: 2M):
// need = 52M + 6M + 4M + RAM x 256K/GiB + CPUs x 16K, +20%, up to 8M, taken at the top of
// the doubling RAM range (MemTotal rounded up to 128M, as the kernel matches).
//   924 MiB, 1 CPU  -> 1G   -> range 1G-2G at 2G:      62 + 0.5 + 0.016   =  62.52 ->  80M
//   3946 MiB, 4     -> 3968M -> range 2G-4G at 4G:     62 + 1 + 0.0625    =  63.06 ->  80M
//   63.7 GiB, 16    -> range 32G-64G at 64G:           62 + 16 + 0.25     =  78.25 ->  96M
//   510 GiB, 64     -> range 256G-512G at 512G:        62 + 128 + 1       = 191    -> 232M
struct SizeCase {
  unsigned long long gib, minus_mib;
  const char* cpus;
  std::uint64_t expected;
};

class CrashkernelSize : public testing::TestWithParam<SizeCase> {};

TEST_P(CrashkernelSize, ReservationForThisMachine) {
  const SizeCase c = GetParam();
  FakeRoot r;
  r.kvm().ram_gib(c.gib, c.minus_mib).cpus(c.cpus);
  Plan p = plan_for(r, "KVMKVMKVM");
  ASSERT_TRUE(p.reservation_bytes);
  EXPECT_EQ(*p.reservation_bytes, c.expected) << p.crashkernel;
  EXPECT_NE(p.crashkernel_reason.find("assumed 2M"), std::string::npos) << p.crashkernel_reason;
}

INSTANTIATE_TEST_SUITE_P(Ram, CrashkernelSize,
                         testing::Values(SizeCase{1, 100, "0", 80 * kMiB},
                                         SizeCase{4, 150, "0-3", 80 * kMiB},
                                         SizeCase{64, 300, "0-15", 96 * kMiB},
                                         SizeCase{512, 2048, "0-63", 232 * kMiB})); // 128G-512G

TEST(Crashkernel, EveryRangeCoversItsLargestRam) {
  for (unsigned cpus : {1u, 8u, 256u}) {
    const std::string ranges = crashkernel_ranges(cpus, kDefaultInitrdBytes, 0);
    for (std::uint64_t ram = 512 * kMiB; ram <= (8ull << 40); ram += ram / 7 + 128 * kMiB) {
      auto got = crashkernel_reservation(ranges, ram);
      ASSERT_TRUE(got) << ranges;
      EXPECT_GE(*got, crashkernel_need(ram, cpus, kDefaultInitrdBytes))
          << ranges << " at " << (ram >> 20) << " MiB";
    }
  }
}

TEST(Crashkernel, TwoGibGuestAboveMeasuredMinimumBelowDebianDefault) {
  // docs/performance.md: a 2 GiB, 2-vCPU guest with a 1.8 MB capture initramfs captures with
  // 64M and fails with 60M; Debian 12's kdump-tools reserves 128M for it (384M-:128M).
  const std::uint64_t initrd = 1800 * 1000;
  auto got = crashkernel_reservation(crashkernel_ranges(2, initrd, 2 * kGiB), 2 * kGiB - 64 * kMiB);
  ASSERT_TRUE(got);
  EXPECT_GE(*got, 64 * kMiB);
  EXPECT_LT(*got, 128 * kMiB);
  // 2G - 64M rounds up to 2G: range 2G-4G at 4G: 52 + 5.15 + 4 + 1 + 0.03 = 62.2M,
  // +20% = 74.6M -> 80M.
  EXPECT_EQ(*got, 80 * kMiB);
}

TEST(Crashkernel, BuiltInitramfsSizeIsUsed) {
  FakeRoot r;
  r.kvm().ram_gib(2, 100).cpus("0").kernel("6.1.0-18-cloud-amd64");
  // The running kernel's initramfs counts; another kernel's does not.
  r.file("/var/lib/guestdump/capture-initrd-6.1.0-18-cloud-amd64.img", std::string(30 << 20, 'x'));
  r.file("/var/lib/guestdump/capture-initrd-6.1.0-17-cloud-amd64.img", std::string(60 << 20, 'x'));
  Plan p = plan_for(r, "KVMKVMKVM");
  // 1948 MiB rounds up to 2G: range 2G-4G at 4G: 52 + 90 + 4 + 1 + 0.016 = 147.0M,
  // +20% = 176.4M -> 184M.
  EXPECT_EQ(p.reservation_bytes, 184 * kMiB);
  EXPECT_NE(p.crashkernel_reason.find("built"), std::string::npos);
}

TEST(Crashkernel, KernelMatchingRules) {
  EXPECT_EQ(crashkernel_reservation("512M-2G:64M,2G-:128M", 1 * kGiB), 64 * kMiB);
  EXPECT_EQ(crashkernel_reservation("512M-2G:64M,2G-:128M", 2 * kGiB), 128 * kMiB); // end excl.
  EXPECT_EQ(crashkernel_reservation("512M-2G:64M,2G-:128M", 256 * kMiB), 0u);
  // 1.95 GiB of MemTotal rounds up to 2G.
  EXPECT_EQ(crashkernel_reservation("512M-2G:64M,2G-:128M", 2 * kGiB - 50 * kMiB), 128 * kMiB);
  EXPECT_EQ(crashkernel_reservation("256M", 8 * kGiB), 256 * kMiB);
  EXPECT_EQ(crashkernel_reservation("384M,high", 8 * kGiB), 384 * kMiB);
  EXPECT_EQ(crashkernel_reservation("1G-4G:192M@16M", 2 * kGiB), 192 * kMiB);
  EXPECT_FALSE(crashkernel_reservation("512M-2G:lots", 1 * kGiB));
  EXPECT_EQ(format_size(96 * kMiB), "96M");
  EXPECT_EQ(format_size(2 * kGiB), "2G");
}

TEST(CaptureCmdline, StripsAndAppends) {
  FakeRoot r;
  r.kvm().cmdline("BOOT_IMAGE=/boot/vmlinuz-6.1.0 root=UUID=abcd ro quiet crashkernel=512M-:192M "
                  "hugepages=64 nr_cpus=4 console=ttyS0,115200 init=/sbin/init -- single");
  r.file("/proc/cpuinfo", "processor\t: 0\ninitial apicid\t: 0\n");
  Plan p = plan_for(r, "KVMKVMKVM");
  const auto toks = split_cmdline(p.capture_cmdline);
  for (const char* want : {"irqpoll", "nr_cpus=1", "reset_devices", "root=UUID=abcd", "ro",
                           "console=ttyS0,115200", "panic=10", "disable_cpu_apicid=0",
                           // the memory trimming that lets a 2 GiB guest capture with 64M
                           "kfence.sample_interval=0", "percpu_alloc=page",
                           "initcall_blacklist=tracer_init_tracefs", "cgroup_disable=memory"})
    EXPECT_TRUE(has(toks, want)) << want << " missing from " << p.capture_cmdline;
  for (const char* gone : {"quiet", "crashkernel=512M-:192M", "hugepages=64", "nr_cpus=4",
                           "BOOT_IMAGE=/boot/vmlinuz-6.1.0", "init=/sbin/init", "--", "single"})
    EXPECT_FALSE(has(toks, gone)) << gone << " kept in " << p.capture_cmdline;
  EXPECT_EQ(std::count(toks.begin(), toks.end(), "nr_cpus=1"), 1);
  EXPECT_FALSE(p.hyperv_blacklist);
  EXPECT_EQ(p.capture_cmdline.find("modprobe.blacklist"), std::string::npos);
}

TEST(HypervBlacklist, Gen1OldHostNeedsIt) {
  FakeRoot r;
  r.hyperv_gen1_old_host().kernel("5.10.0-28-amd64");
  Plan p = plan_for(r, "Microsoft Hv");
  EXPECT_TRUE(p.hyperv_blacklist) << p.hyperv_blacklist_reason;
  EXPECT_NE(p.hyperv_blacklist_reason.find("7601"), std::string::npos);
  EXPECT_NE(p.hyperv_blacklist_reason.find("'sda' is on the emulated IDE controller"),
            std::string::npos)
      << p.hyperv_blacklist_reason;
  EXPECT_NE(p.capture_cmdline.find(
                "modprobe.blacklist=hv_vmbus,hv_storvsc,hv_utils,hv_netvsc,hid_hyperv"),
            std::string::npos);
  EXPECT_NE(p.capture_cmdline.find("ata_piix.prefer_ms_hyperv=0"), std::string::npos);
}

TEST(HypervBlacklist, OldKernelOnModernHostNeedsIt) {
  FakeRoot r;
  r.hyperv_gen1_old_host().kernel("4.4.0-210-generic");
  r.file("/var/log/dmesg", "Hyper-V Host Build:20348-10.0-1-0.1583; Vmbus version:5.3\n");
  Plan p = plan_for(r, "Microsoft Hv");
  EXPECT_TRUE(p.hyperv_blacklist);
  EXPECT_NE(p.hyperv_blacklist_reason.find("4.4.0-210-generic"), std::string::npos);
}

TEST(HypervBlacklist, Gen1ModernIsNotBlacklisted) {
  FakeRoot r;
  r.hyperv_gen1_old_host().kernel("6.1.0-18-amd64");
  r.file("/var/log/dmesg", "Hyper-V Host Build:20348-10.0-1-0.1583; Vmbus version:5.3\n");
  Plan p = plan_for(r, "Microsoft Hv");
  EXPECT_FALSE(p.hyperv_blacklist);
  EXPECT_NE(p.hyperv_blacklist_reason.find("reconnect"), std::string::npos);
}

TEST(HypervBlacklist, NeverWhenTheTargetIsBehindVmbus) {
  FakeRoot gen2;
  gen2.hyperv_gen2_modern().kernel("4.4.0-old"); // even an old kernel: the disk needs VMBus
  Plan p = plan_for(gen2, "Microsoft Hv");
  EXPECT_FALSE(p.hyperv_blacklist);
  EXPECT_NE(p.hyperv_blacklist_reason.find("Generation 2"), std::string::npos);
  PlanOptions always;
  always.hyperv_blacklist = BlacklistMode::kAlways;
  auto refused = make_plan(detect(gen2, "Microsoft Hv"), always);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().what().find("dump target 'sda'"), std::string::npos);

  // Gen1 old host, but the dump goes to a data disk on the VMBus SCSI controller.
  FakeRoot gen1;
  gen1.hyperv_gen1_old_host();
  gen1.vmbus_disk("sdc", "22222222-2222-3333-4444-555555555555", FakeRoot::kScsiClass);
  EXPECT_FALSE(plan_for(gen1, "Microsoft Hv").hyperv_blacklist);
}

TEST(HypervBlacklist, OverridesAndOtherHypervisors) {
  FakeRoot r;
  r.hyperv_gen1_old_host();
  EXPECT_FALSE(plan_for(r, "Microsoft Hv", BlacklistMode::kNever).hyperv_blacklist);
  FakeRoot kvm;
  kvm.kvm().kernel("4.4.0-old");
  EXPECT_FALSE(plan_for(kvm, "KVMKVMKVM").hyperv_blacklist);
  EXPECT_TRUE(plan_for(kvm, "KVMKVMKVM", BlacklistMode::kAlways).hyperv_blacklist);
  // A running command line that still carries the blacklist loses it when not wanted.
  FakeRoot gen2;
  gen2.hyperv_gen2_modern().cmdline(
      "root=/dev/sda1 modprobe.blacklist=hv_vmbus,hv_storvsc,hv_utils,hv_netvsc,hid_hyperv "
      "ata_piix.prefer_ms_hyperv=0");
  Plan p = plan_for(gen2, "Microsoft Hv");
  EXPECT_EQ(p.capture_cmdline.find("hv_vmbus"), std::string::npos) << p.capture_cmdline;
  EXPECT_EQ(p.capture_cmdline.find("prefer_ms_hyperv"), std::string::npos);
}

TEST(PanicKnobs, NmiAndOopsPanic) {
  FakeRoot r;
  Plan p = plan_for(r);
  auto value = [&](const std::string& key) -> std::string {
    for (const auto& s : p.sysctls)
      if (s.key == key) return s.value;
    return "(absent)";
  };
  EXPECT_EQ(value("kernel.panic_on_oops"), "1");
  EXPECT_EQ(value("kernel.unknown_nmi_panic"), "1");
  EXPECT_EQ(value("kernel.panic_on_unrecovered_nmi"), "1");
  EXPECT_EQ(value("kernel.softlockup_panic"), "1");
  EXPECT_EQ(value("kernel.hung_task_panic"), "0");
  EXPECT_EQ(value("kernel.sysrq"), "1");
  for (const auto& s : p.sysctls) EXPECT_FALSE(s.reason.empty()) << s.key;
}

TEST(Warnings, NoKexecFileAndLockdown) {
  FakeRoot r;
  r.kernel("5.4.0-nokexec", false)
      .file("/sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
  Plan p = plan_for(r);
  ASSERT_EQ(p.warnings.size(), 2u);
  EXPECT_NE(p.warnings[0].find("without CONFIG_KEXEC_FILE (/boot/config-5.4.0-nokexec)"),
            std::string::npos)
      << p.warnings[0];
  EXPECT_NE(p.warnings[1].find("lockdown 'integrity'"), std::string::npos) << p.warnings[1];
  FakeRoot ok;
  ok.kernel("6.1.0-ok");
  EXPECT_TRUE(plan_for(ok).warnings.empty());
}

} // namespace
} // namespace guestdump::guest
