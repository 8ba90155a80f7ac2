// Dump device lookup without udev; see block_device.h.

#include "guestdump/guest/block_device.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/common/unique_fd.h"

namespace fs = std::filesystem;

namespace guestdump::guest {

namespace {

std::string format_uuid(std::span<const std::byte> b) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    auto v = static_cast<unsigned>(b[i]);
    s += kHex[v >> 4];
    s += kHex[v & 15];
  }
  return s;
}

std::string c_string(std::span<const std::byte> b) {
  std::string s;
  for (std::byte c : b) {
    if (c == std::byte{0}) break;
    s += static_cast<char>(c);
  }
  return s;
}

bool bytes_equal(std::span<const std::byte> b, std::size_t off, std::string_view what) {
  if (b.size() < off + what.size()) return false;
  return std::memcmp(b.data() + off, what.data(), what.size()) == 0;
}

std::string read_small_file(const std::string& path) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  if (!fd) return {};
  char buf[256];
  ssize_t n = ::read(fd->get(), buf, sizeof buf);
  if (n <= 0) return {};
  std::string s(buf, static_cast<std::size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// Probes the device node; nullopt when it cannot be read or holds no known file system.
std::optional<FsIdentity> probe_node(const std::string& node) {
  auto fd = UniqueFd::open(node, O_RDONLY);
  if (!fd) return std::nullopt;
  std::vector<std::byte> head(kSuperblockProbeBytes);
  auto n = read_full(fd->get(), head, node);
  if (!n) return std::nullopt;
  head.resize(*n);
  return probe_superblock(head);
}

} // namespace

std::optional<FsIdentity> probe_superblock(std::span<const std::byte> head) {
  // ext2/3/4: superblock at 1024, s_magic 0xEF53 at +0x38, s_uuid at +0x68, s_volume_name +0x78.
  constexpr std::size_t kExt = 1024;
  if (head.size() >= kExt + 0x88 && head[kExt + 0x38] == std::byte{0x53} &&
      head[kExt + 0x39] == std::byte{0xEF})
    return FsIdentity{"ext4", format_uuid(head.subspan(kExt + 0x68, 16)),
                      c_string(head.subspan(kExt + 0x78, 16))};
  // XFS: "XFSB" at 0, sb_uuid at 32, sb_fname[12] at 108.
  if (head.size() >= 120 && bytes_equal(head, 0, "XFSB"))
    return FsIdentity{"xfs", format_uuid(head.subspan(32, 16)), c_string(head.subspan(108, 12))};
  // Btrfs: superblock at 64 KiB, fsid at +0x20, magic "_BHRfS_M" at +0x40, label at +0x12b.
  constexpr std::size_t kBtrfs = 0x10000;
  if (head.size() >= kBtrfs + 0x12b + 256 && bytes_equal(head, kBtrfs + 0x40, "_BHRfS_M"))
    return FsIdentity{"btrfs", format_uuid(head.subspan(kBtrfs + 0x20, 16)),
                      c_string(head.subspan(kBtrfs + 0x12b, 256))};
  return std::nullopt;
}

bool device_matches(std::string_view spec, const std::string& node, const FsIdentity& fs) {
  if (spec.starts_with("UUID=")) return iequals(spec.substr(5), fs.uuid);
  if (spec.starts_with("LABEL=")) return !fs.label.empty() && spec.substr(6) == fs.label;
  return spec == node;
}

Result<std::optional<BlockDevice>>
find_block_device(std::string_view spec, const std::string& sys_root, const std::string& dev_root) {
  auto make = [](const std::string& node) -> std::optional<BlockDevice> {
    auto fsid = probe_node(node);
    if (!fsid) return std::nullopt;
    return BlockDevice{node, fs::path(node).filename().string(), *fsid};
  };
  // udev's links, when a udev ran (not in our initramfs, but capture may run elsewhere).
  std::string link;
  if (spec.starts_with("UUID="))
    link = dev_root + "/disk/by-uuid/" + std::string(spec.substr(5));
  else if (spec.starts_with("LABEL="))
    link = dev_root + "/disk/by-label/" + std::string(spec.substr(6));
  std::error_code ec;
  if (!link.empty() && fs::exists(link, ec)) {
    std::string node = fs::canonical(link, ec).string();
    if (!ec)
      if (auto dev = make(node); dev && device_matches(spec, node, dev->fs)) return dev;
  }
  if (spec.starts_with("/")) {
    if (!fs::exists(std::string(spec), ec)) return std::optional<BlockDevice>{};
    auto dev = make(std::string(spec));
    if (!dev)
      return make_error(ErrorCode::kUnsupported,
                        "device '" + std::string(spec) + "': no ext4, xfs or btrfs file system");
    return dev;
  }
  // No udev: every block device the kernel lists, through devtmpfs nodes.
  fs::directory_iterator it(sys_root + "/class/block", ec);
  if (ec) return errno_error("list", sys_root + "/class/block", ec.value());
  std::vector<std::string> names;
  for (const auto& e : it) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string node = dev_root + "/" + name;
    if (!fs::exists(node, ec)) {
      // devtmpfs normally has it; create the node from sysfs' major:minor otherwise.
      std::string mm = read_small_file(sys_root + "/class/block/" + name + "/dev");
      unsigned major = 0, minor = 0;
      if (std::sscanf(mm.c_str(), "%u:%u", &major, &minor) != 2) continue;
      if (::mknod(node.c_str(), S_IFBLK | 0600, makedev(major, minor)) != 0) continue;
    }
    if (auto dev = make(node); dev && device_matches(spec, node, dev->fs)) {
      dev->name = name;
      return dev;
    }
  }
  return std::optional<BlockDevice>{};
}

Result<BlockDevice> wait_for_block_device(std::string_view spec, unsigned timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    GUESTDUMP_TRY(auto dev, find_block_device(spec));
    if (dev) return *dev;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::string seen;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/class/block", ec)) {
    std::string name = e.path().filename().string();
    auto fsid = probe_node("/dev/" + name);
    seen += (seen.empty() ? "" : ", ") + name;
    if (fsid)
      seen += " (" + fsid->type + (fsid->label.empty() ? "" : " '" + fsid->label + "'") + ")";
  }
  return make_error(ErrorCode::kNotFound, "device '" + std::string(spec) + "' not found after " +
                                              std::to_string(timeout_s) + " s (block devices: " +
                                              (seen.empty() ? "none" : seen) + ")");
}

Result<void> mount_block_device(const BlockDevice& dev, const std::string& mount_point) {
  std::error_code ec;
  fs::create_directories(mount_point, ec);
  if (ec) return errno_error("mkdir", mount_point, ec.value());
  if (::mount(dev.node.c_str(), mount_point.c_str(), dev.fs.type.c_str(), 0, nullptr) != 0)
    return errno_error("mount " + dev.fs.type + " '" + dev.node + "' on", mount_point);
  return {};
}

std::vector<std::string> block_device_driver_modules(const std::string& name,
                                                     const std::string& sys_root) {
  std::vector<std::string> mods;
  std::error_code ec;
  fs::path block = fs::path(sys_root) / "class/block" / name;
  if (fs::exists(block / "partition", ec)) block = fs::canonical(block, ec).parent_path();
  fs::path dev = fs::canonical(block / "device", ec);
  if (ec) return mods;
  fs::path stop = fs::canonical(fs::path(sys_root) / "devices", ec);
  for (fs::path p = dev; !p.empty() && p != stop && p != p.root_path(); p = p.parent_path()) {
    fs::path mod = p / "driver" / "module";
    if (fs::is_symlink(mod, ec)) {
      std::string m = fs::read_symlink(mod, ec).filename().string();
      if (!m.empty() && std::find(mods.begin(), mods.end(), m) == mods.end()) mods.push_back(m);
    }
  }
  return mods;
}

} // namespace guestdump::guest
