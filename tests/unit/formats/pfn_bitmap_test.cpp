#include "guestdump/formats/pfn_bitmap.h"

#include <gtest/gtest.h>

namespace guestdump::formats {
namespace {

TEST(PfnBitmap, OnDiskBitOrderIsLsbFirst) {
  PfnBitmap b(20);
  b.set(0);
  b.set(9);
  b.set(19);
  auto bytes = b.bytes();
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(bytes[0], std::byte{0x01});
  EXPECT_EQ(bytes[1], std::byte{0x02});
  EXPECT_EQ(bytes[2], std::byte{0x08});
}

TEST(PfnBitmap, RangesCountsAndSearch) {
  PfnBitmap b(1000);
  b.assign_range(3, 200, true);
  EXPECT_EQ(b.count(), 200u);
  EXPECT_EQ(b.count_range(0, 64), 61u);
  EXPECT_EQ(b.count_range(100, 1000), 103u);
  b.assign_range(64, 64, false);
  EXPECT_EQ(b.count(), 136u);
  EXPECT_EQ(b.next_set(0), 3u);
  EXPECT_EQ(b.next_set(64), 128u);
  EXPECT_EQ(b.next_set(203), 1000u);
  b.assign_range(990, 100, true); // clipped at the end
  EXPECT_EQ(b.count_range(990, 10), 10u);
}

TEST(PfnBitmap, FromBytesClearsBitsPastSize) {
  std::byte raw[2] = {std::byte{0xff}, std::byte{0xff}};
  auto b = PfnBitmap::from_bytes(raw, 10);
  EXPECT_EQ(b.count(), 10u);
  PfnBitmap c(10);
  c.assign_range(0, 10, true);
  EXPECT_EQ(b, c);
}

} // namespace
} // namespace guestdump::formats
