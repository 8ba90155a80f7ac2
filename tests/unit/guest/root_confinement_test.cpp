// --root DIR cannot be escaped: real symlinks inside a fake root that point outside it (absolute
// targets, ".." chains, symlinked directories, loops, FIFOs) never make
// detect, plan or apply read or write outside the root; links that stay inside keep working.

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fake_root.h"
#include "fs_util.h"
#include "guestdump/guest/apply.h"
#include "guestdump/guest/config_edit.h"
#include "temp_dir.h"

namespace guestdump::guest {
namespace {

namespace fs = std::filesystem;
using test::FakeRoot;

// A directory outside the fake root with files the guest image must not reach.
struct Outside {
  guestdump::test::TempDir dir;
  std::string secret = "SECRET=outside\n";
  Outside() {
    std::ofstream(dir.file("grub"), std::ios::binary) << secret;
    std::ofstream(dir.file("cmdline"), std::ios::binary) << "from_outside=1\n";
    std::ofstream(dir.file("mounts"), std::ios::binary) << "/dev/sdz1 / ext4 rw 0 0\n";
    fs::create_directories(dir.file("wants"));
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir.file(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The number of ".." that climbs from anywhere in a fake root to "/" (and beyond).
  static std::string up() {
    std::string s;
    for (int i = 0; i < 24; ++i) s += "../";
    return s;
  }
};

TEST(RootConfinement, AbsoluteSymlinkIsTakenUnderTheRoot) {
  Outside out;
  FakeRoot r;
  r.link("/etc/default/grub", out.dir.file("grub"));
  EXPECT_FALSE(read_file_under(r.path(), "/etc/default/grub")); // not the outside file
  r.file(out.dir.file("grub"), "GRUB_CMDLINE_LINUX=\"inside\"\n");
  EXPECT_EQ(read_file_under(r.path(), "/etc/default/grub"), "GRUB_CMDLINE_LINUX=\"inside\"\n");
  auto where = resolve_in_root(r.path(), "/etc/default/grub");
  ASSERT_TRUE(where);
  EXPECT_EQ(where->canonical, out.dir.file("grub"));
}

TEST(RootConfinement, DotDotChainsStopAtTheRoot) {
  Outside out;
  FakeRoot r;
  r.link("/etc/default/grub", Outside::up() + out.dir.file("grub").substr(1));
  r.link("/proc/cmdline", "../../../../../../../../../../.." + out.dir.file("cmdline"));
  EXPECT_FALSE(read_file_under(r.path(), "/etc/default/grub"));
  EXPECT_FALSE(read_file_under(r.path(), "/proc/cmdline"));
  EXPECT_FALSE(read_file_under(r.path(), "/../../../../../../../.." + out.dir.file("grub")));
  r.file("/etc/passwd", "root:x:0:0\n");
  EXPECT_EQ(read_file_under(r.path(), "/../../etc/../../etc/passwd"), "root:x:0:0\n");
}

TEST(RootConfinement, SymlinkedDirectoriesAreResolvedInside) {
  Outside out;
  FakeRoot r;
  r.link("/etc", out.dir.path()); // the whole /etc "is" a host directory
  r.link("/sys/class/block", Outside::up() + out.dir.path().substr(1));
  std::filesystem::create_symlink("/etc/passwd", out.dir.file("link"));
  EXPECT_FALSE(read_file_under(r.path(), "/etc/grub"));
  EXPECT_FALSE(exists_under(r.path(), "/etc/grub"));
  EXPECT_FALSE(exists_under(r.path(), "/sys/class/block/grub"));
  EXPECT_FALSE(list_dir_under(r.path(), "/sys/class/block"));
  EXPECT_FALSE(read_link_under(r.path(), "/sys/class/block/link"));
  // Inside the root the same names work.
  r.file(out.dir.file("grub"), "x\n");
  EXPECT_EQ(read_file_under(r.path(), "/etc/grub"), "x\n");
  EXPECT_TRUE(exists_under(r.path(), "/sys/class/block/grub"));
}

TEST(RootConfinement, LoopsFifosAndDevicesAreNotRead) {
  FakeRoot r;
  r.link("/etc/a", "/etc/b").link("/etc/b", "a");
  auto loop = resolve_in_root(r.path(), "/etc/a");
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().sys_errno, ELOOP);
  EXPECT_FALSE(read_file_under(r.path(), "/etc/a"));
  r.dir("/etc/default");
  ASSERT_EQ(::mkfifo(r.at("/etc/default/grub").c_str(), 0644), 0);
  EXPECT_FALSE(read_file_under(r.path(), "/etc/default/grub")); // returns, does not block
  r.file("/etc/big", std::string(4096, 'x'));
  EXPECT_FALSE(read_file_under(r.path(), "/etc/big", 4095));
  EXPECT_EQ(read_file_under(r.path(), "/etc/big", 4096)->size(), 4096u);
}

TEST(RootConfinement, DetectReadsNothingOutside) {
  Outside out;
  FakeRoot r;
  r.kvm().kernel("6.1.0").os_release("debian");
  r.link("/proc/cmdline", out.dir.file("cmdline"));
  std::filesystem::remove(r.at("/proc/mounts"));
  r.link("/proc/mounts", Outside::up() + out.dir.file("mounts").substr(1));
  std::filesystem::remove(r.at("/sys/class/block/vda"));
  DetectOptions o;
  o.root = r.path();
  o.cpuid_signature = "";
  auto info = detect_system(o);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->cmdline) << *info->cmdline;
  EXPECT_FALSE(info->dump_target) << *info->dump_target;
}

const char* kGrub = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n";

ApplyActions plan_for(const FakeRoot& r) {
  auto a = test::apply_actions_for(r, ApplyMode::kStandalone);
  EXPECT_TRUE(a) << (a ? "" : a.error().what());
  return a ? *a : ApplyActions{};
}

FakeRoot& standalone(FakeRoot& r) {
  r.kvm().ram_gib(2).cpus("0-1").kernel("6.1.0").os_release("alpine");
  return r;
}

TEST(RootConfinement, ApplyWritesOnlyInsideTheRoot) {
  Outside out;
  FakeRoot r;
  standalone(r);
  // /etc/default/grub -> the host file, through a ".." chain.
  r.link("/etc/default/grub", Outside::up() + out.dir.file("grub").substr(1));
  r.file(out.dir.file("grub"), kGrub); // where that link lands inside the root
  // The sysctl.d and unit directories are links to host directories.
  r.link("/etc/sysctl.d", out.dir.path());
  r.link("/etc/systemd/system/multi-user.target.wants", out.dir.file("wants"));
  ApplyActions a = plan_for(r);
  ASSERT_TRUE(write_actions(r.path(), a));
  EXPECT_EQ(out.read("grub"), out.secret);
  EXPECT_FALSE(fs::exists(out.dir.file("90-guestdump.conf")));
  EXPECT_TRUE(fs::is_empty(out.dir.file("wants")));
  // Everything landed where the links point inside the root.
  EXPECT_NE(r.read(out.dir.file("grub")).find("crashkernel="), std::string::npos);
  EXPECT_NE(r.read(out.dir.file("90-guestdump.conf")).find("kernel.panic_on_oops = 1"),
            std::string::npos);
  EXPECT_TRUE(fs::is_symlink(r.at(out.dir.file("wants") + "/guestdump-guest.service")));
  EXPECT_TRUE(fs::is_symlink(r.at("/etc/default/grub")));
}

TEST(RootConfinement, ConfigThatIsNotARegularFileIsRefused) {
  FakeRoot r;
  standalone(r);
  r.dir("/etc/default");
  ASSERT_EQ(::mkfifo(r.at("/etc/default/grub").c_str(), 0644), 0);
  auto a = test::apply_actions_for(r, ApplyMode::kStandalone);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().what().find(r.path() + "/etc/default/grub' (for /etc/default/grub): not a "
                                             "regular file"),
            std::string::npos)
      << a.error().what();
}

} // namespace
} // namespace guestdump::guest
