// The parsers of the live-memory path: HMP `info mtree -f` (where the guest places its BARs and
// ROMs) and /proc/PID/maps.

#include "live_memory.h"

#include <gtest/gtest.h>

namespace guestdump::host::detail {
namespace {

constexpr const char* kHeader = "FlatView #0\n AS \"memory\", root: system\n"
                                " Root memory region: system\n";

TEST(LiveMemory, ParsesTheFlatViewOfMemory) {
  const std::string text =
      std::string(kHeader) +
      "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram KVM\n"
      "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
      "  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom @0000000000001000\n"
      "FlatView #1\n AS \"I/O\", root: io\n"
      "  0000000000000000-0000000000000007 (prio 0, ram): io.fake\n";
  auto r = parse_mtree_flat(text);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].gpa, 0u);
  EXPECT_EQ((*r)[0].size, 0xa0000u);
  EXPECT_EQ((*r)[0].block, "pc.ram");
  EXPECT_EQ((*r)[1].block, "pc.rom");
  EXPECT_EQ((*r)[1].block_offset, 0x1000u);
}

// A guest can move a 64-bit BAR anywhere: a range reaching 2^52 or covering the whole 64-bit
// space (whose size wraps to 0) is ignored, so no page bitmap is sized by it.
TEST(LiveMemory, IgnoresRangesBeyondThePhysicalAddressSpace) {
  const std::string text = std::string(kHeader) +
                           "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\n"
                           "  0000000000000000-ffffffffffffffff (prio 0, ram): evil.wrap\n"
                           "  0010000000000000-0010000000000fff (prio 0, ram): evil.top\n"
                           "  fffffffffffff000-ffffffffffffffff (prio 0, rom): evil.rom\n"
                           "  000ff00000000000-000ff00000000fff (prio 0, ram): evil.bar\n"
                           "  0000010000000000-0000010000000fff (prio 0, ram): ok.high\n";
  auto r = parse_mtree_flat(text);
  ASSERT_TRUE(r) << r.error().what();
  // evil.bar is below 2^52 but far beyond the guest's RAM plus 1 TiB of holes: a bitmap up to
  // it would be 2^40 bits.
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].block, "pc.ram");
  EXPECT_EQ((*r)[1].block, "ok.high");
  EXPECT_EQ((*r)[1].size, 0x1000u);
  EXPECT_FALSE(parse_mtree_flat(std::string(kHeader) +
                                "  0000000000000000-ffffffffffffffff (prio 0, ram): evil\n"));
}

TEST(LiveMemory, ParsesProcMaps) {
  auto maps = parse_proc_maps("7f3a40000000-7f3a80000000 rw-p 00000000 00:00 0 \n"
                              "7f3a80000000-7f3a80021000 rw-s 00000000 00:01 1034    "
                              "/memfd:pc.ram (deleted)\n"
                              "garbage\n"
                              "zz-10 r--p\n");
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].start, 0x7f3a40000000u);
  EXPECT_EQ(maps[0].end, 0x7f3a80000000u);
  EXPECT_EQ(maps[0].perms, "rw-p");
  EXPECT_EQ(maps[0].path, "");
  EXPECT_EQ(maps[1].path, "/memfd:pc.ram (deleted)");
}

} // namespace
} // namespace guestdump::host::detail
