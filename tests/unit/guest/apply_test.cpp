// apply on fake Debian, RHEL and SUSE roots: only our keys change (every other byte is kept),
// backups hold the original, modes survive, a second run changes nothing; standalone mode;
// the refusals for unknown distros, missing tooling and kernels without kexec_file_load.

#include "guestdump/guest/apply.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fake_root.h"
#include "guestdump/guest/config_edit.h"

namespace guestdump::guest {
namespace {

using test::FakeRoot;

// The file with every line that assigns one of `keys` removed (shell `K=` or directive `k `).
std::string without_keys(const std::string& text, const std::vector<std::string>& keys) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
    std::string line = text.substr(pos, end - pos);
    bool ours = std::any_of(keys.begin(), keys.end(), [&](const std::string& k) {
      return line.rfind(k + "=", 0) == 0 || line.rfind(k + " ", 0) == 0;
    });
    if (!ours) out += line;
    pos = end;
  }
  return out;
}

// The value of KEY in a file apply wrote, which the editor must be able to read back.
std::optional<std::string> shell_var(const std::string& text, const std::string& key) {
  auto v = get_shell_var(text, key, "written file");
  EXPECT_TRUE(v) << (v ? "" : v.error().what());
  return v ? *v : std::nullopt;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

struct Applied {
  SystemInfo info;
  Plan plan;
  ApplyActions actions;
};

Applied prepare(const FakeRoot& r, ApplyMode mode, const std::string& sig = "KVMKVMKVM") {
  DetectOptions o;
  o.root = r.path();
  o.cpuid_signature = sig;
  auto info = detect_system(o);
  EXPECT_TRUE(info);
  auto plan = make_plan(*info, {});
  EXPECT_TRUE(plan);
  auto actions = plan_apply(*info, *plan, mode);
  EXPECT_TRUE(actions) << (actions ? "" : actions.error().what());
  return {*info, *plan, *actions};
}

// prepare(), then the actions written under the root.
Applied written(const FakeRoot& r, ApplyMode mode) {
  Applied a = prepare(r, mode);
  auto w = write_actions(r.path(), a.actions);
  EXPECT_TRUE(w) << (w ? "" : w.error().what());
  return a;
}

Result<ApplyActions> try_prepare(const FakeRoot& r, ApplyMode mode) {
  return test::apply_actions_for(r, mode);
}

const char* kDebianKdumpTools = "# kdump-tools settings (test fixture)\n"
                                "#\n"
                                "USE_KDUMP=0\n"
                                "\n"
                                "# where dumps go: a user setting that must survive\n"
                                "KDUMP_COREDIR=\"/srv/crash\"   # local disk\n"
                                "#KDUMP_CMDLINE_APPEND=\"commented default\"\n"
                                "MAKEDUMP_ARGS=\"-c -d 31\"\n"
                                "KDUMP_FAIL_CMD=\"reboot -f\"";
const char* kDebianGrub = "# run update-grub after editing\r\n"
                          "GRUB_DEFAULT=0\r\n"
                          "GRUB_TIMEOUT=5\r\n"
                          "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\r\n"
                          "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\r\n"
                          "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200\"\r\n"
                          "#GRUB_TERMINAL=console\r\n";

// A 2 GiB, 2-vCPU KVM guest with the Debian 12 cloud kernel, distro `os`.
FakeRoot& small_guest(FakeRoot& r, const char* os) {
  r.kvm().ram_gib(2, 64).cpus("0-1").kernel("6.1.0-18-cloud-amd64").os_release(os);
  return r;
}

FakeRoot& debian(FakeRoot& r) {
  r.kvm().ram_gib(4, 150).cpus("0-3").kernel("6.1.0-18-cloud-amd64");
  r.os_release("debian").cmdline("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro quiet");
  r.file("/etc/default/kdump-tools", kDebianKdumpTools, 0640);
  r.file("/etc/default/grub", kDebianGrub);
  return r;
}

// KDUMP_CMDLINE_APPEND of our kdump-tools.service drop-in (Environment="KDUMP_CMDLINE_APPEND=...").
std::string dropin_append(const std::string& dropin) {
  const std::string key = "\nEnvironment=\"KDUMP_CMDLINE_APPEND=";
  const auto at = dropin.find(key);
  EXPECT_NE(at, std::string::npos) << dropin;
  if (at == std::string::npos) return "";
  const auto from = at + key.size();
  return dropin.substr(from, dropin.find("\"\n", from) - from);
}

bool has_note(const ApplyActions& a, const std::string& text) {
  return std::any_of(a.notes.begin(), a.notes.end(),
                     [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ApplyDebian, OwnDropinsOnlyAndOtherPackagesFilesUntouched) {
  FakeRoot r;
  debian(r);
  Applied a = prepare(r, ApplyMode::kDistro);
  ASSERT_TRUE(write_actions(r.path(), a.actions));

  // kdump-tools' and grub's files are read, never written (no backup either).
  EXPECT_EQ(r.read("/etc/default/kdump-tools"), kDebianKdumpTools);
  EXPECT_EQ(r.read("/etc/default/grub"), kDebianGrub);
  EXPECT_FALSE(r.exists("/etc/default/kdump-tools.guestdump.bak"));
  EXPECT_FALSE(r.exists("/etc/default/grub.guestdump.bak"));

  const std::string dropin =
      r.read("/etc/systemd/system/kdump-tools.service.d/guestdump-guest.conf");
  EXPECT_NE(dropin.find("\n[Service]\n"), std::string::npos) << dropin;
  const auto toks = split_cmdline(dropin_append(dropin));
  for (const char* t : {"reset_devices", "systemd.unit=kdump-tools-dump.service", "nr_cpus=1",
                        "irqpoll", "usbcore.nousb", "panic=10"})
    EXPECT_TRUE(has(toks, t)) << t << " in " << dropin;
  EXPECT_EQ(std::count(toks.begin(), toks.end(), "irqpoll"), 1);
  // USE_KDUMP=0 in kdump-tools' file is the operator's to change: a note, not an edit.
  EXPECT_TRUE(has_note(a.actions, "sets USE_KDUMP=0")) << describe_actions(a.actions);

  const std::string grub = r.read("/etc/default/grub.d/zz-guestdump-guest.cfg");
  EXPECT_NE(grub.find("\nGRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=" +
                      a.plan.crashkernel + "\"\n"),
            std::string::npos)
      << grub;

  const std::string sysctl = r.read("/etc/sysctl.d/90-guestdump.conf");
  EXPECT_NE(sysctl.find("\nkernel.panic_on_oops = 1\n"), std::string::npos);
  EXPECT_NE(sysctl.find("\nkernel.unknown_nmi_panic = 1\n"), std::string::npos);
  EXPECT_EQ(mode_of(r.at("/etc/sysctl.d/90-guestdump.conf")), 0644u);
  EXPECT_TRUE(has(a.actions.commands, "update-grub"));
  EXPECT_TRUE(has(a.actions.commands, "systemctl daemon-reload"));
  EXPECT_TRUE(has(a.actions.reload_commands, "systemctl restart kdump-tools"));

  // A second run finds nothing to do.
  Applied again = prepare(r, ApplyMode::kDistro);
  EXPECT_TRUE(again.actions.files.empty()) << describe_actions(again.actions);
}

TEST(ApplyDebian, AppendSetInKdumpToolsFileIsNotedNotEdited) {
  FakeRoot r;
  debian(r);
  const std::string kt = "USE_KDUMP=1\nKDUMP_CMDLINE_APPEND=\"irqpoll my.option=1\"\n";
  r.file("/etc/default/kdump-tools", kt);
  Applied a = prepare(r, ApplyMode::kDistro);
  ASSERT_TRUE(write_actions(r.path(), a.actions));
  EXPECT_EQ(r.read("/etc/default/kdump-tools"), kt);
  // The file's value wins over the environment: the operator is told what to set there.
  EXPECT_TRUE(has_note(a.actions, "sets KDUMP_CMDLINE_APPEND itself"))
      << describe_actions(a.actions);
  EXPECT_FALSE(has_note(a.actions, "USE_KDUMP"));
  const std::string append =
      dropin_append(r.read("/etc/systemd/system/kdump-tools.service.d/guestdump-guest.conf"));
  EXPECT_NE(append.find("my.option=1"), std::string::npos) << append;
}

TEST(ApplyDebian, DryRunDescribesWithoutWriting) {
  FakeRoot r;
  debian(r);
  Applied a = prepare(r, ApplyMode::kDistro);
  const std::string d = describe_actions(a.actions);
  EXPECT_NE(d.find("--- /dev/null\n+++ b/etc/systemd/system/kdump-tools.service.d/"
                   "guestdump-guest.conf\n"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("--- /dev/null\n+++ b/etc/sysctl.d/90-guestdump.conf\n"), std::string::npos);
  EXPECT_EQ(d.find("etc/default/kdump-tools\n"), std::string::npos) << d;
  EXPECT_FALSE(r.exists("/etc/sysctl.d/90-guestdump.conf"));
  EXPECT_FALSE(r.exists("/etc/systemd/system/kdump-tools.service.d"));
}

// What grub-mkconfig does with /etc/default/grub and grub.d/*.cfg (sources them in order), run
// by sh: the kernel command line's defaults part.
std::string grub_default_cmdline(const FakeRoot& r) {
  const std::string cmd = "cd '" + r.path() +
                          "/etc/default' && . ./grub && for x in grub.d/*.cfg; do . \"./$x\"; "
                          "done && printf %s \"$GRUB_CMDLINE_LINUX_DEFAULT\"";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r"); // /bin/sh -c
  if (p == nullptr) {
    ADD_FAILURE() << "popen " << cmd;
    return out;
  }
  char buf[512];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << cmd;
  return out;
}

TEST(ApplyDebian, OurCrashkernelComesLastAfterKdumpToolsSnippet) {
  FakeRoot r;
  debian(r);
  r.file("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet crashkernel=256M\"\n");
  const std::string snippet =
      "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M\"\n";
  r.file("/etc/default/grub.d/kdump-tools.cfg", snippet);
  Applied a = prepare(r, ApplyMode::kDistro);
  ASSERT_TRUE(write_actions(r.path(), a.actions));
  EXPECT_EQ(r.read("/etc/default/grub.d/kdump-tools.cfg"), snippet);
  // The kernel uses the last crashkernel= of its command line.
  const auto toks = split_cmdline(grub_default_cmdline(r));
  auto last = std::find_if(toks.rbegin(), toks.rend(),
                           [](const std::string& t) { return t.rfind("crashkernel=", 0) == 0; });
  ASSERT_NE(last, toks.rend());
  EXPECT_EQ(*last, "crashkernel=" + a.plan.crashkernel);
}

TEST(ApplyDebian, StaleHypervBlacklistIsRemovedOnGen2) {
  FakeRoot r;
  r.hyperv_gen2_modern().kernel("6.1.0-18-cloud-amd64").os_release("ubuntu", "debian");
  r.file("/etc/default/kdump-tools",
         "USE_KDUMP=1\nKDUMP_CMDLINE_APPEND=\"reset_devices nr_cpus=1 "
         "modprobe.blacklist=hv_vmbus,hv_storvsc,hv_utils,hv_netvsc,hid_hyperv "
         "ata_piix.prefer_ms_hyperv=0 my.option=1\"\n");
  Applied a = prepare(r, ApplyMode::kDistro, "Microsoft Hv");
  ASSERT_TRUE(write_actions(r.path(), a.actions));
  const auto append =
      dropin_append(r.read("/etc/systemd/system/kdump-tools.service.d/guestdump-guest.conf"));
  EXPECT_EQ(append.find("hv_vmbus"), std::string::npos) << append;
  EXPECT_EQ(append.find("prefer_ms_hyperv"), std::string::npos) << append;
  EXPECT_NE(append.find("my.option=1"), std::string::npos) << append;
}

TEST(ApplyOther, SymlinkedGrubDefaultsAreChangedWhereTheyPoint) {
  FakeRoot r;
  small_guest(r, "alpine");
  r.file("/etc/grub-real/grub", kDebianGrub);
  r.link("/etc/default/grub", "/etc/grub-real/grub"); // absolute: resolved under the root
  Applied a = prepare(r, ApplyMode::kStandalone);
  ASSERT_TRUE(write_actions(r.path(), a.actions));
  EXPECT_TRUE(std::filesystem::is_symlink(r.at("/etc/default/grub")));
  const std::string grub = r.read("/etc/grub-real/grub");
  EXPECT_EQ(shell_var(grub, "GRUB_CMDLINE_LINUX_DEFAULT"),
            "quiet crashkernel=" + a.plan.crashkernel);
  EXPECT_EQ(without_keys(grub, {"GRUB_CMDLINE_LINUX_DEFAULT"}),
            without_keys(kDebianGrub, {"GRUB_CMDLINE_LINUX_DEFAULT"}));
  EXPECT_NE(grub.find("\"\r\nGRUB_CMDLINE_LINUX="), std::string::npos); // CRLF kept
  EXPECT_EQ(r.read("/etc/grub-real/grub.guestdump.bak"), kDebianGrub);
}

const char* kRhelSysconfig =
    "# kdump sysconfig (test fixture)\n"
    "KDUMP_KERNELVER=\"\"\n"
    "KDUMP_COMMANDLINE=\"\"\n"
    "KDUMP_COMMANDLINE_REMOVE=\"hugepages hugepagesz slub_debug quiet log_buf_len swiotlb\"\n"
    "KDUMP_COMMANDLINE_APPEND=\"irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off "
    "numa=off udev.children-max=2 panic=10\"\n"
    "KEXEC_ARGS=\"-s\"\n"
    "KDUMP_IMG=\"vmlinuz\"\n";
const char* kRhelKdumpConf = "path /var/crash\n"
                             "core_collector makedumpfile -l --message-level 7 -d 31\n"
                             "#failure_action shell\n"
                             "auto_reset_crashkernel yes\n";
const char* kRhelGrub = "GRUB_TIMEOUT=5\n"
                        "GRUB_CMDLINE_LINUX=\"crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M "
                        "resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rhgb quiet\"\n"
                        "GRUB_DISABLE_RECOVERY=\"true\"\n";

TEST(ApplyRhel, SysconfigKdumpConfAndGrubby) {
  FakeRoot r;
  r.kvm().ram_gib(64, 300).cpus("0-15").kernel("5.14.0-427.el9.x86_64");
  r.os_release("rhel", "fedora").file("/usr/bin/kdumpctl", "").file("/usr/sbin/grubby", "");
  r.file("/etc/sysconfig/kdump", kRhelSysconfig, 0600)
      .file("/etc/kdump.conf", kRhelKdumpConf)
      .file("/etc/default/grub", kRhelGrub);
  Applied a = prepare(r, ApplyMode::kDistro);
  ASSERT_TRUE(write_actions(r.path(), a.actions));

  const std::string sc = r.read("/etc/sysconfig/kdump");
  const auto toks = split_cmdline(shell_var(sc, "KDUMP_COMMANDLINE_APPEND").value_or(""));
  for (const char* t : {"udev.children-max=2", "irqpoll", "nr_cpus=1", "novmcoredd", "panic=10"})
    EXPECT_NE(std::find(toks.begin(), toks.end(), t), toks.end()) << t;
  EXPECT_EQ(std::count(toks.begin(), toks.end(), "panic=10"), 1);
  EXPECT_EQ(without_keys(sc, {"KDUMP_COMMANDLINE_APPEND"}),
            without_keys(kRhelSysconfig, {"KDUMP_COMMANDLINE_APPEND"}));
  EXPECT_EQ(mode_of(r.at("/etc/sysconfig/kdump")), 0600u);

  EXPECT_EQ(r.read("/etc/kdump.conf"),
            std::string(kRhelKdumpConf) + "failure_action reboot\nfinal_action reboot\n");

  const std::string grub = r.read("/etc/default/grub");
  EXPECT_EQ(shell_var(grub, "GRUB_CMDLINE_LINUX"),
            "crashkernel=" + a.plan.crashkernel +
                " resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rhgb quiet");
  EXPECT_FALSE(shell_var(grub, "GRUB_CMDLINE_LINUX_DEFAULT"));
  EXPECT_NE(std::find(a.actions.commands.begin(), a.actions.commands.end(),
                      "grubby --update-kernel=ALL --args=crashkernel=" + a.plan.crashkernel),
            a.actions.commands.end());
}

TEST(ApplySuse, CpusKeyAndAppendWithoutNrCpus) {
  const std::string sysconfig = "## Path: System/Kernel/Kdump\n"
                                "KDUMP_CPUS=\"32\"\n"
                                "KDUMP_COMMANDLINE_APPEND=\"\"\n"
                                "KDUMP_SAVEDIR=\"file:///var/crash\"\n"
                                "KDUMP_KEEP_OLD_DUMPS=\"5\"\n"
                                "KDUMP_CRASHKERNEL=\"\"\n";
  FakeRoot r;
  r.kvm().ram_gib(1, 100).cpus("0").kernel("6.4.0-150600.23-default");
  r.os_release("sles", "suse").file("/usr/sbin/kdumptool", "");
  r.file("/etc/sysconfig/kdump", sysconfig)
      .file("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"splash=silent\"\n");
  Applied a = prepare(r, ApplyMode::kDistro);
  ASSERT_TRUE(write_actions(r.path(), a.actions));
  const std::string sc = r.read("/etc/sysconfig/kdump");
  EXPECT_EQ(shell_var(sc, "KDUMP_CPUS"), "1");
  const std::string append = shell_var(sc, "KDUMP_COMMANDLINE_APPEND").value_or("");
  EXPECT_EQ(append.find("nr_cpus"), std::string::npos) << append;
  EXPECT_NE(append.find("irqpoll"), std::string::npos) << append;
  EXPECT_EQ(shell_var(sc, "KDUMP_CRASHKERNEL"), "crashkernel=" + a.plan.crashkernel);
  const std::vector<std::string> ours = {"KDUMP_CPUS", "KDUMP_COMMANDLINE_APPEND",
                                         "KDUMP_CRASHKERNEL"};
  EXPECT_EQ(without_keys(sc, ours), without_keys(sysconfig, ours));
}

TEST(ApplyRefusals, UnknownDistroAndMissingTooling) {
  FakeRoot unknown;
  unknown.kvm().kernel("6.1.0").os_release("alpine");
  auto r = try_prepare(unknown, ApplyMode::kDistro);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("unknown distro (ID 'alpine' in " + unknown.path() +
                                  "/etc/os-release)"),
            std::string::npos)
      << r.error().what();
  EXPECT_NE(r.error().what().find("--mode standalone"), std::string::npos);

  FakeRoot bare_debian;
  bare_debian.kvm().kernel("6.1.0").os_release("debian");
  auto d = try_prepare(bare_debian, ApplyMode::kDistro);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().what().find("install kdump-tools"), std::string::npos) << d.error().what();
}

TEST(ApplyRefusals, BootConfigItCannotReadExactlyIsLeftAlone) {
  // A continuation line in GRUB defaults, an escaped quote in kdump-tools' append: apply stops
  // with the file and line, and writes nothing (not even the files it could edit).
  const std::string grub = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"console=ttyS0 \\\n  quiet\"\n";
  FakeRoot r;
  small_guest(r, "alpine");
  r.file("/etc/default/grub", grub);
  auto a = try_prepare(r, ApplyMode::kStandalone);
  ASSERT_FALSE(a);
  EXPECT_EQ(
      a.error().what().rfind(r.path() + "/etc/default/grub:2: backslash continuation line", 0), 0u)
      << a.error().what();

  FakeRoot k;
  debian(k);
  k.file("/etc/default/kdump-tools", "USE_KDUMP=1\nKDUMP_CMDLINE_APPEND=\"a=\\\"b c\\\"\"\n");
  auto b = try_prepare(k, ApplyMode::kDistro);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().what().rfind(k.path() + "/etc/default/kdump-tools:2: KDUMP_CMDLINE_APPEND: "
                                              "backslash",
                                   0),
            0u)
      << b.error().what();
  EXPECT_EQ(r.read("/etc/default/grub"), grub);
  EXPECT_FALSE(r.exists("/etc/sysctl.d/90-guestdump.conf"));
}

// Where the unit's enablement link (multi-user.target.wants) points.
std::string wants_target(const FakeRoot& r) {
  std::error_code ec;
  return std::filesystem::read_symlink(
             r.at("/etc/systemd/system/multi-user.target.wants/guestdump-guest.service"), ec)
      .string();
}

TEST(ApplyStandalone, InstallsTheUnitAndNotesTheInitramfs) {
  FakeRoot r;
  small_guest(r, "alpine");
  r.file("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"\"\n");
  const Applied a = written(r, ApplyMode::kStandalone);
  const std::string unit = r.read("/etc/systemd/system/guestdump-guest.service");
  EXPECT_NE(unit.find("ExecStart=/usr/sbin/guestdump-guest load\n"), std::string::npos);
  EXPECT_NE(unit.find("WantedBy=multi-user.target"), std::string::npos);
  EXPECT_EQ(wants_target(r), "/etc/systemd/system/guestdump-guest.service");
  EXPECT_EQ(shell_var(r.read("/etc/default/grub"), "GRUB_CMDLINE_LINUX_DEFAULT"),
            "crashkernel=" + a.plan.crashkernel);
  EXPECT_TRUE(has_note(a.actions, "guestdump-guest initramfs"));
  // Linking again is a no-op, not an error.
  ASSERT_TRUE(write_actions(r.path(), a.actions));
}

TEST(ApplyStandalone, PackagedUnitIsEnabledNotCopied) {
  FakeRoot r;
  small_guest(r, "debian");
  r.file("/lib/systemd/system/guestdump-guest.service", "[Unit]\n");
  const Applied a = written(r, ApplyMode::kStandalone);
  EXPECT_FALSE(r.exists("/etc/systemd/system/guestdump-guest.service"));
  EXPECT_EQ(wants_target(r), "/lib/systemd/system/guestdump-guest.service");
  EXPECT_TRUE(has_note(a.actions, "/var/lib/guestdump/capture-initrd-6.1.0-18-cloud-amd64.img"))
      << describe_actions(a.actions);
}

// The package's unit (packaging/guestdump-guest.service) is the one apply writes without the
// package, but for its leading comment.
TEST(ApplyStandalone, PackagedUnitMatchesTheWrittenOne) {
  std::ifstream in(std::string(GUESTDUMP_SOURCE_DIR) + "/packaging/guestdump-guest.service");
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto body = [](const std::string& unit) { return unit.substr(unit.find("\n[Unit]\n")); };
  EXPECT_EQ(body(ss.str()), body(standalone_unit_text()));
}

TEST(ApplyStandalone, RefusesWithoutKexecFile) {
  FakeRoot r;
  r.kvm().kernel("5.4.0-nokexec", false);
  auto a = try_prepare(r, ApplyMode::kStandalone);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().what().find("CONFIG_KEXEC_FILE (/boot/config-5.4.0-nokexec)"),
            std::string::npos)
      << a.error().what();
}

} // namespace
} // namespace guestdump::guest
