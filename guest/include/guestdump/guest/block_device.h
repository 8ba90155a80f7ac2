#pragma once
// Finding the dump device in a capture initramfs that has no udev: by /dev/disk/by-uuid or
// by-label when they exist, else by reading the superblock of every block device listed in
// /sys/class/block. Understands ext2/3/4, XFS and Btrfs superblocks.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::guest {

struct FsIdentity {
  std::string type;  // "ext4" (also for ext2/3, mounted by the ext4 driver), "xfs", "btrfs"
  std::string uuid;  // lowercase 8-4-4-4-12
  std::string label; // may be empty
};

/// Bytes of a device's start that probe_superblock() needs.
inline constexpr std::size_t kSuperblockProbeBytes = 0x10000 + 0x1000;

/// Identifies the file system from the first bytes of a device (shorter input is allowed; the
/// superblocks that lie beyond it are not checked). nullopt when none is recognised.
std::optional<FsIdentity> probe_superblock(std::span<const std::byte> head);

/// True when `spec` (UUID=..., LABEL=... or /dev/...) names the file system `fs` on `node`.
bool device_matches(std::string_view spec, const std::string& node, const FsIdentity& fs);

struct BlockDevice {
  std::string node; // /dev/vdb
  std::string name; // vdb (the /sys/class/block entry)
  FsIdentity fs;
};

/// Looks for `spec` once: /dev/disk/by-* links first, then every /sys/class/block entry's
/// /dev node. `sys_root` and `dev_root` are "/sys" and "/dev" except in tests.
Result<std::optional<BlockDevice>> find_block_device(std::string_view spec,
                                                     const std::string& sys_root = "/sys",
                                                     const std::string& dev_root = "/dev");

/// find_block_device() until it succeeds or `timeout_s` seconds pass (drivers probe devices
/// asynchronously after their module is loaded). kNotFound names the spec and what was seen.
Result<BlockDevice> wait_for_block_device(std::string_view spec, unsigned timeout_s);

/// Mounts `dev` at `mount_point` (created if needed) read-write.
Result<void> mount_block_device(const BlockDevice& dev, const std::string& mount_point);

/// Kernel modules that drive the block device `name` (walking its sysfs device path up to the
/// root: each `driver/module` link), nearest first.
std::vector<std::string> block_device_driver_modules(const std::string& name,
                                                     const std::string& sys_root = "/sys");

} // namespace guestdump::guest
