#include "guestdump/common/result.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace guestdump {
namespace {

Result<int> half(int v) {
  if (v % 2 != 0) return make_error(ErrorCode::kInvalidArgument, std::to_string(v) + " is odd");
  return v / 2;
}

Result<int> quarter(int v) {
  GUESTDUMP_TRY(int h, half(v));
  auto q = half(h);
  if (!q) return std::move(q).error().context("second half");
  return *q;
}

TEST(Result, ValueAndError) {
  auto ok = half(8);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 4);
  auto bad = half(3);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "3 is odd");
}

TEST(Result, TryPropagatesAndContextChains) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "second half: 3 is odd");
  auto r2 = quarter(5);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().what(), "5 is odd");
}

TEST(Result, ErrnoErrorNamesObject) {
  Error e = errno_error("open", "/x", ENOENT);
  EXPECT_EQ(e.code, ErrorCode::kOs);
  EXPECT_EQ(e.sys_errno, ENOENT);
  EXPECT_EQ(e.message, "open '/x': No such file or directory");
}

TEST(Result, VoidResult) {
  Result<void> ok;
  EXPECT_TRUE(ok);
  Result<void> bad = make_error(ErrorCode::kTimeout, "late");
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kTimeout);
}

} // namespace
} // namespace guestdump
