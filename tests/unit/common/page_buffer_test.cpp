#include "guestdump/common/page_buffer.h"

#include <cstdint>
#include <cstring>
#include <utility>

#include <gtest/gtest.h>

namespace guestdump {
namespace {

std::uintptr_t addr(const std::byte* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

TEST(PageBuffer, EmptyByDefaultAndForZeroBytes) {
  PageBuffer a;
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  PageBuffer b(0);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.size(), 0u);
}

TEST(PageBuffer, SmallBuffersArePageAlignedAndRoundedUp) {
  PageBuffer b(5000);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), 8192u);
  EXPECT_EQ(addr(b.data()) % 4096, 0u);
  std::memset(b.data(), 0xab, b.size()); // all of it is writable
  EXPECT_EQ(b.data()[b.size() - 1], std::byte{0xab});
}

TEST(PageBuffer, LargeBuffersStartOnAHugePage) {
  const std::size_t huge = std::size_t{2} << 20;
  PageBuffer b(3 * huge + 1);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), 4 * huge);
  EXPECT_EQ(addr(b.data()) % huge, 0u);
  std::memset(b.data(), 0x11, b.size());
  EXPECT_EQ(b.data()[0], std::byte{0x11});
  EXPECT_EQ(b.data()[b.size() - 1], std::byte{0x11});
}

TEST(PageBuffer, MovesOwnership) {
  PageBuffer a(4096);
  std::byte* p = a.data();
  p[0] = std::byte{7};
  PageBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[0], std::byte{7});
  PageBuffer c(8192);
  c = std::move(b); // c's old mapping is released, b's taken over
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 4096u);
  EXPECT_EQ(b.data(), nullptr);
}

} // namespace
} // namespace guestdump
