#include "guestdump/formats/codec.h"

#include <cstring>

#include <gtest/gtest.h>

#include "elf_core_builder.h"

namespace guestdump::formats {
namespace {

std::vector<std::byte> page(std::uint64_t seed, bool compressible) {
  auto p = test::make_page(seed, 4096, compressible);
  std::vector<std::byte> out(p.size());
  std::memcpy(out.data(), p.data(), p.size());
  return out;
}

class CodecTest : public testing::TestWithParam<Codec> {};

TEST_P(CodecTest, CompressiblePageRoundTrips) {
  auto comp = PageCompressor::create(GetParam(), 4096);
  ASSERT_TRUE(comp) << comp.error().what();
  PageDecompressor decomp;
  for (std::uint64_t seed = 1; seed < 20; ++seed) {
    auto in = page(seed, true);
    std::vector<std::byte> out((*comp)->bound() + 1);
    std::size_t n = (*comp)->compress(in, out);
    if (GetParam() == Codec::kNone) {
      EXPECT_EQ(n, 0u);
      continue;
    }
    ASSERT_GT(n, 0u);
    ASSERT_LT(n, 4096u);
    std::vector<std::byte> back(4096);
    auto r = decomp.decompress(codec_flag(GetParam()), std::span(out.data(), n), back);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(back, in);
  }
}

TEST_P(CodecTest, IncompressiblePageIsLeftRaw) {
  auto comp = PageCompressor::create(GetParam(), 4096);
  ASSERT_TRUE(comp);
  auto in = page(7, false);
  std::vector<std::byte> out(std::max<std::size_t>((*comp)->bound(), 1));
  EXPECT_EQ((*comp)->compress(in, out), 0u);
}

TEST_P(CodecTest, CorruptInputFailsCleanly) {
  if (GetParam() == Codec::kNone) GTEST_SKIP() << "raw pages have no encoding to corrupt";
  auto comp = PageCompressor::create(GetParam(), 4096);
  ASSERT_TRUE(comp);
  auto in = page(3, true);
  std::vector<std::byte> out((*comp)->bound());
  std::size_t n = (*comp)->compress(in, out);
  ASSERT_GT(n, 8u);
  PageDecompressor decomp;
  std::vector<std::byte> back(4096);
  // Truncation must be detected by every codec (no silent short page).
  auto r = decomp.decompress(codec_flag(GetParam()), std::span(out.data(), n / 2), back);
  EXPECT_FALSE(r);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest,
                         testing::Values(Codec::kZstd, Codec::kZlib, Codec::kLzo, Codec::kSnappy,
                                         Codec::kNone),
                         [](const auto& p) { return std::string(codec_name(p.param)); });

TEST(Codec, NamesAndFlags) {
  EXPECT_EQ(parse_codec("zstd"), Codec::kZstd);
  EXPECT_FALSE(parse_codec("gzip"));
  EXPECT_EQ(codec_flag(Codec::kZlib), 0x01u);
  EXPECT_EQ(codec_flag(Codec::kLzo), 0x02u);
  EXPECT_EQ(codec_flag(Codec::kSnappy), 0x04u);
  EXPECT_EQ(codec_flag(Codec::kZstd), 0x20u);
  EXPECT_EQ(codec_from_flag(0x20), Codec::kZstd);
  EXPECT_FALSE(codec_from_flag(0x08));
}

TEST(Codec, RawPageMustBeExactlyOnePage) {
  PageDecompressor d;
  std::vector<std::byte> in(4000), out(4096);
  EXPECT_FALSE(d.decompress(0, in, out));
  EXPECT_FALSE(d.decompress(0x40, in, out)); // unknown flag
}

TEST(Codec, ZeroPageDetection) {
  std::vector<std::byte> p(4096, std::byte{0});
  EXPECT_TRUE(is_zero_page(p));
  p[4095] = std::byte{1};
  EXPECT_FALSE(is_zero_page(p));
  p[4095] = std::byte{0};
  p[0] = std::byte{1};
  EXPECT_FALSE(is_zero_page(p));
}

} // namespace
} // namespace guestdump::formats
