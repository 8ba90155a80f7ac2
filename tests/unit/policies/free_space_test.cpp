#include <limits>

#include <gtest/gtest.h>

#include <guestdump/policies/free_space.h>

namespace guestdump::policies {
namespace {

constexpr std::uint64_t kMiB = 1ULL << 20;
constexpr std::uint64_t kGiB = 1ULL << 30;

TEST(EstimateDumpSize, FormulaForFourGiB) {
  const DumpSizeEstimate e =
      estimate_dump_size({.ram_bytes = 4 * kGiB, .dump_level = 31, .codec = Codec::kZstd});
  const std::uint64_t pages = 4 * kGiB / 4096;                             // 1 Mi pages
  const std::uint64_t bitmap = (8 * kGiB / 4096 / 8 + 4095) / 4096 * 4096; // (R + 4 GiB) / 32 Ki
  std::uint64_t bound = pages * 4096 + pages * 24 + 2 * bitmap + kMiB + 32 * kMiB + 64 * 1024;
  bound += (bound + 49) / 50;
  EXPECT_EQ(e.upper_bound, bound);
  // About 1.03 x RAM + 33 MiB, as documented.
  EXPECT_GT(e.upper_bound, 4 * kGiB);
  EXPECT_LT(e.upper_bound, 4 * kGiB * 104 / 100 + 40 * kMiB);
  EXPECT_LT(e.expected, e.upper_bound);
}

TEST(EstimateDumpSize, BoundDoesNotDependOnCodecOrLevel) {
  // A page that does not shrink is stored raw, and levels only drop pages: the worst case is
  // the same for all.
  const std::uint64_t ref =
      estimate_dump_size({.ram_bytes = kGiB, .dump_level = 0, .codec = Codec::kNone}).upper_bound;
  for (Codec c : {Codec::kZstd, Codec::kZlib, Codec::kLzo, Codec::kSnappy, Codec::kNone}) {
    for (int level : {0, 1, 17, 31}) {
      EXPECT_EQ(
          estimate_dump_size({.ram_bytes = kGiB, .dump_level = level, .codec = c}).upper_bound,
          ref);
    }
  }
  // The typical size does: filtering and compression shrink it.
  EXPECT_LT(
      estimate_dump_size({.ram_bytes = kGiB, .dump_level = 31, .codec = Codec::kZstd}).expected,
      estimate_dump_size({.ram_bytes = kGiB, .dump_level = 0, .codec = Codec::kNone}).expected);
}

TEST(EstimateDumpSize, SmallAndOddSizes) {
  // dmesg is bounded by RAM for tiny guests; partial pages round up.
  const DumpSizeEstimate tiny =
      estimate_dump_size({.ram_bytes = 1, .dump_level = 31, .codec = Codec::kZstd});
  EXPECT_GE(tiny.upper_bound, 4096u + 24u + kMiB);
  EXPECT_GT(
      estimate_dump_size({.ram_bytes = 4097, .dump_level = 0, .codec = Codec::kZstd}).upper_bound,
      estimate_dump_size({.ram_bytes = 4096, .dump_level = 0, .codec = Codec::kZstd}).upper_bound);
  const DumpSizeEstimate zero =
      estimate_dump_size({.ram_bytes = 0, .dump_level = 0, .codec = Codec::kZstd});
  EXPECT_GT(zero.upper_bound, 0u); // headers still
}

TEST(EstimateDumpSize, SaturatesInsteadOfOverflowing) {
  const DumpSizeEstimate e =
      estimate_dump_size({.ram_bytes = std::numeric_limits<std::uint64_t>::max(),
                          .dump_level = 0,
                          .codec = Codec::kZstd});
  EXPECT_EQ(e.upper_bound, std::numeric_limits<std::uint64_t>::max());
  EXPECT_LE(e.expected, e.upper_bound);
}

TEST(MinFreeBytes, LargerOfBothRoundedUp) {
  EXPECT_EQ(min_free_bytes({.bytes = 0, .percent = 10}, 1000), 100u);
  EXPECT_EQ(min_free_bytes({.bytes = 0, .percent = 10}, 1001), 101u); // 100.1 rounds up
  EXPECT_EQ(min_free_bytes({.bytes = 500, .percent = 10}, 1000), 500u);
  EXPECT_EQ(min_free_bytes({.bytes = 50, .percent = 10}, 1000), 100u);
  EXPECT_EQ(min_free_bytes({.bytes = 0, .percent = 0}, 1000), 0u);
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(min_free_bytes({.bytes = 0, .percent = 99}, huge), huge / 100 * 99 + 15);
}

TEST(CheckFreeSpace, BoundaryIsAllowedOneByteLessIsNot) {
  const DumpSizeEstimate est{.upper_bound = 10 * kGiB, .expected = kGiB};
  const MinFree min{.bytes = 0, .percent = 10};
  const std::uint64_t total = 100 * kGiB; // min-free = 10 GiB
  const SpaceDecision at = check_free_space({.free_bytes = 20 * kGiB, .total_bytes = total}, min,
                                            est, 0, "dump of 'web1'");
  EXPECT_TRUE(at.allowed) << at.reason;
  EXPECT_EQ(at.needed, 10 * kGiB);
  EXPECT_EQ(at.min_free, 10 * kGiB);
  const SpaceDecision below = check_free_space({.free_bytes = 20 * kGiB - 1, .total_bytes = total},
                                               min, est, 0, "dump of 'web1'");
  EXPECT_FALSE(below.allowed);
  EXPECT_EQ(below.reason,
            "not enough space for dump of 'web1': it needs up to 10.0 GiB, 20.0 GiB free, "
            "min-free 10.0 GiB (10% of 100.0 GiB) must stay free");
}

TEST(CheckFreeSpace, AbsoluteMinimum) {
  const DumpSizeEstimate est{.upper_bound = kGiB, .expected = kMiB};
  const MinFree min{.bytes = 2 * kGiB, .percent = 0};
  EXPECT_TRUE(
      check_free_space({.free_bytes = 3 * kGiB, .total_bytes = 1000 * kGiB}, min, est, 0, "dump")
          .allowed);
  const SpaceDecision no = check_free_space(
      {.free_bytes = 3 * kGiB - 1, .total_bytes = 1000 * kGiB}, min, est, 0, "dump of 'db'");
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.reason, "not enough space for dump of 'db': it needs up to 1.0 GiB, 3.0 GiB free, "
                       "min-free 2.0 GiB must stay free");
}

TEST(CheckFreeSpace, BothLimitsTheLargerApplies) {
  const DumpSizeEstimate est{.upper_bound = kGiB, .expected = kMiB};
  const MinFree min{.bytes = 2 * kGiB, .percent = 5}; // 5% of 100 GiB = 5 GiB > 2 GiB
  EXPECT_FALSE(
      check_free_space({.free_bytes = 6 * kGiB - 1, .total_bytes = 100 * kGiB}, min, est, 0, "dump")
          .allowed);
  EXPECT_TRUE(
      check_free_space({.free_bytes = 6 * kGiB, .total_bytes = 100 * kGiB}, min, est, 0, "dump")
          .allowed);
}

TEST(CheckFreeSpace, RunningDumpsReserveTheirShare) {
  const DumpSizeEstimate est{.upper_bound = kGiB, .expected = kMiB};
  const MinFree none{.bytes = 0, .percent = 0};
  const StoreSpace space{.free_bytes = 3 * kGiB, .total_bytes = 100 * kGiB};
  EXPECT_TRUE(check_free_space(space, none, est, 2 * kGiB, "dump").allowed);
  const SpaceDecision no = check_free_space(space, none, est, 2 * kGiB + 1, "dump of 'x'");
  EXPECT_FALSE(no.allowed);
  EXPECT_NE(no.reason.find("plus 2.0 GiB for running dumps"), std::string::npos) << no.reason;
}

TEST(CheckFreeSpace, FreeSmallerThanNeededDoesNotWrap) {
  const DumpSizeEstimate est{.upper_bound = 10 * kGiB, .expected = kGiB};
  const SpaceDecision d = check_free_space({.free_bytes = kGiB, .total_bytes = 2 * kGiB},
                                           {.bytes = 0, .percent = 0}, est, 0, "dump");
  EXPECT_FALSE(d.allowed);
  const SpaceDecision sat = check_free_space(
      {.free_bytes = kGiB, .total_bytes = 2 * kGiB}, {.bytes = 0, .percent = 0},
      {.upper_bound = std::numeric_limits<std::uint64_t>::max(), .expected = 0}, 5, "dump");
  EXPECT_FALSE(sat.allowed);
  EXPECT_EQ(sat.needed, std::numeric_limits<std::uint64_t>::max());
}

TEST(CheckFreeSpace, AllowedReasonSummarises) {
  const SpaceDecision d = check_free_space(
      {.free_bytes = 50 * kGiB, .total_bytes = 100 * kGiB}, {.bytes = 0, .percent = 10},
      {.upper_bound = kGiB, .expected = kMiB}, 0, "dump of 'web1'");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "dump of 'web1' needs up to 1.0 GiB; 50.0 GiB free, min-free 10.0 GiB (10% "
                      "of 100.0 GiB) stays free");
}

} // namespace
} // namespace guestdump::policies
