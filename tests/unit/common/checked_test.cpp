#include "guestdump/common/checked.h"

#include <array>
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

namespace guestdump {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TEST(Checked, AddDetectsWrapAround) {
  EXPECT_EQ(checked_add<std::uint64_t>(40, 2), 42u);
  EXPECT_EQ(checked_add<std::uint64_t>(kMax - 1, 1), kMax);
  // OFFSET(page.flags)=2^64-4 plus its 8-byte width would wrap to 4.
  EXPECT_FALSE(checked_add<std::uint64_t>(kMax - 3, 8));
  EXPECT_FALSE(checked_add<std::uint32_t>(0xffffffffu, 1u));
}

TEST(Checked, MulDetectsWrapAround) {
  EXPECT_EQ(checked_mul<std::uint64_t>(1u << 20, 64), 64u << 20);
  EXPECT_EQ(checked_mul<std::uint64_t>(0, kMax), 0u);
  // 2^40 descriptors of 2^30 bytes.
  EXPECT_FALSE(checked_mul<std::uint64_t>(std::uint64_t{1} << 40, std::uint64_t{1} << 30));
}

TEST(Checked, FitsIsOverflowSafe) {
  EXPECT_TRUE(fits(0, 8, 64));
  EXPECT_TRUE(fits(56, 8, 64));
  EXPECT_TRUE(fits(64, 0, 64));
  EXPECT_FALSE(fits(57, 8, 64));
  EXPECT_FALSE(fits(65, 0, 64));
  // The lies a naive `offset + width > limit` lets through.
  EXPECT_FALSE(fits(kMax - 3, 8, 64));
  EXPECT_FALSE(fits(8, kMax, 64));
  EXPECT_FALSE(fits(kMax, 1, kMax));
  EXPECT_TRUE(fits(kMax - 1, 1, kMax));
}

TEST(Checked, BoundedBytesNeverReadsOutside) {
  std::array<std::byte, 16> raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::byte>(i + 1);
  BoundedBytes b(raw);
  EXPECT_EQ(b.size(), 16u);
  EXPECT_EQ(b.load<std::uint8_t>(15), 16u);
  EXPECT_EQ(b.load<std::uint16_t>(0), 0x0201u);
  EXPECT_EQ(b.load<std::uint64_t>(8), 0x100f0e0d0c0b0a09ULL);
  EXPECT_FALSE(b.load<std::uint64_t>(9));
  EXPECT_FALSE(b.load<std::uint8_t>(16));
  EXPECT_FALSE(b.load<std::uint64_t>(kMax - 3)); // would wrap to offset 4
  auto s = b.sub(4, 12);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 12u);
  EXPECT_EQ((*s)[0], std::byte{5});
  EXPECT_FALSE(b.sub(4, 13));
  EXPECT_FALSE(b.sub(kMax, 2));
  EXPECT_TRUE(b.sub(16, 0));
  EXPECT_FALSE(BoundedBytes().load<std::uint8_t>(0));
}

} // namespace
} // namespace guestdump
