#include "guestdump/guest/block_device.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace guestdump::guest {
namespace {

const unsigned char kUuid[16] = {0x1b, 0x4e, 0x28, 0xba, 0x2f, 0xa1, 0x11, 0xd2,
                                 0x88, 0x3f, 0x00, 0x16, 0xd3, 0xcc, 0x42, 0x7e};
const char* kUuidText = "1b4e28ba-2fa1-11d2-883f-0016d3cc427e";

std::vector<std::byte> image(std::size_t size) {
  return std::vector<std::byte>(size);
}
void put(std::vector<std::byte>& b, std::size_t off, const void* p, std::size_t n) {
  std::memcpy(b.data() + off, p, n);
}

TEST(Superblock, Ext4) {
  auto b = image(4096);
  const unsigned char magic[2] = {0x53, 0xEF};
  put(b, 1024 + 0x38, magic, 2);
  put(b, 1024 + 0x68, kUuid, 16);
  put(b, 1024 + 0x78, "gdcrash", 7);
  auto fs = probe_superblock(b);
  ASSERT_TRUE(fs);
  EXPECT_EQ(fs->type, "ext4");
  EXPECT_EQ(fs->uuid, kUuidText);
  EXPECT_EQ(fs->label, "gdcrash");
  EXPECT_TRUE(device_matches("LABEL=gdcrash", "/dev/vdb", *fs));
  EXPECT_TRUE(device_matches("UUID=1B4E28BA-2FA1-11D2-883F-0016D3CC427E", "/dev/vdb", *fs));
  EXPECT_TRUE(device_matches("/dev/vdb", "/dev/vdb", *fs));
  EXPECT_FALSE(device_matches("LABEL=gdcras", "/dev/vdb", *fs));
  EXPECT_FALSE(device_matches("UUID=1b4e28ba", "/dev/vdb", *fs));
  // Too short to hold the superblock: not recognised, not a crash.
  b.resize(1100);
  EXPECT_FALSE(probe_superblock(b));
}

TEST(Superblock, XfsAndBtrfs) {
  auto x = image(4096);
  put(x, 0, "XFSB", 4);
  put(x, 32, kUuid, 16);
  put(x, 108, "dumps", 5);
  auto xfs = probe_superblock(x);
  ASSERT_TRUE(xfs);
  EXPECT_EQ(xfs->type, "xfs");
  EXPECT_EQ(xfs->uuid, kUuidText);
  EXPECT_EQ(xfs->label, "dumps");

  auto b = image(kSuperblockProbeBytes);
  put(b, 0x10000 + 0x40, "_BHRfS_M", 8);
  put(b, 0x10000 + 0x20, kUuid, 16);
  auto btrfs = probe_superblock(b);
  ASSERT_TRUE(btrfs);
  EXPECT_EQ(btrfs->type, "btrfs");
  EXPECT_EQ(btrfs->label, "");
  EXPECT_FALSE(device_matches("LABEL=", "/dev/sda", *btrfs)); // no label matches nothing

  EXPECT_FALSE(probe_superblock(image(kSuperblockProbeBytes))); // zeroes
}

// Scanning /sys/class/block without udev: a fake sysfs and /dev with image files as nodes.
TEST(FindBlockDevice, ScansSysClassBlockWithoutUdev) {
  test::TempDir dir;
  std::string sys = dir.file("sys"), dev = dir.file("dev");
  for (const char* n : {"vda", "vdb"})
    std::filesystem::create_directories(sys + "/class/block/" + n);
  std::filesystem::create_directories(dev);
  auto ext = image(4096);
  const unsigned char magic[2] = {0x53, 0xEF};
  put(ext, 1024 + 0x38, magic, 2);
  put(ext, 1024 + 0x68, kUuid, 16);
  put(ext, 1024 + 0x78, "gdcrash", 7);
  std::ofstream(dev + "/vda", std::ios::binary).write("not a file system", 17);
  std::ofstream(dev + "/vdb", std::ios::binary)
      .write(reinterpret_cast<const char*>(ext.data()), static_cast<std::streamsize>(ext.size()));

  auto found = find_block_device("LABEL=gdcrash", sys, dev);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(*found);
  EXPECT_EQ((*found)->node, dev + "/vdb");
  EXPECT_EQ((*found)->name, "vdb");
  EXPECT_EQ((*found)->fs.type, "ext4");
  auto by_uuid = find_block_device(std::string("UUID=") + kUuidText, sys, dev);
  ASSERT_TRUE(by_uuid && *by_uuid);
  auto none = find_block_device("LABEL=other", sys, dev);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto no_fs = find_block_device(dev + "/vda", sys, dev);
  ASSERT_FALSE(no_fs);
  EXPECT_EQ(no_fs.error().message, "device '" + dev + "/vda': no ext4, xfs or btrfs file system");
}

} // namespace
} // namespace guestdump::guest
