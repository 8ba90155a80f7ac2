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

// Pages that repeat their first 64 bytes are answered from a memo of earlier results: each must
// still decode to itself, whatever came before, and equal a fresh compressor's output.
TEST_P(CodecTest, PeriodicPagesRoundTripInAnyOrder) {
  if (GetParam() == Codec::kNone) GTEST_SKIP() << "raw pages are not compressed";
  auto comp = PageCompressor::create(GetParam(), 4096);
  ASSERT_TRUE(comp);
  PageDecompressor decomp;
  auto periodic = [](std::uint64_t seed, std::size_t period) {
    std::vector<std::byte> p(4096);
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (std::size_t i = 0; i < period; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      p[i] = static_cast<std::byte>(x);
    }
    for (std::size_t i = period; i < p.size(); ++i) p[i] = p[i - period];
    return p;
  };
  std::vector<std::vector<std::byte>> pages;
  for (std::uint64_t seed = 0; seed < 40; ++seed)
    pages.push_back(periodic(seed, seed % 2 ? 8 : 64));
  auto almost = pages[3];
  almost.back() ^= std::byte{1}; // periodic up to its last byte: not a copy of pages[3]
  pages.push_back(almost);
  std::vector<std::size_t> order;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < pages.size(); ++i) order.push_back((i * 7 + round) % pages.size());
  }
  for (std::size_t i : order) {
    std::vector<std::byte> out((*comp)->bound());
    std::size_t n = (*comp)->compress(pages[i], out);
    ASSERT_GT(n, 0u) << "page " << i;
    auto fresh = PageCompressor::create(GetParam(), 4096);
    ASSERT_TRUE(fresh);
    std::vector<std::byte> want((*fresh)->bound());
    ASSERT_EQ((*fresh)->compress(pages[i], want), n) << "page " << i;
    EXPECT_EQ(std::memcmp(out.data(), want.data(), n), 0) << "page " << i;
    std::vector<std::byte> back(4096);
    ASSERT_TRUE(decomp.decompress(codec_flag(GetParam()), std::span(out.data(), n), back));
    ASSERT_EQ(back, pages[i]) << "page " << i;
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

// Literals_Block_Type of the first block of a one-frame zstd page (RFC 8878 3.1.1, 3.1.1.3.1):
// 0 raw, 1 RLE, 2 Huffman-compressed, 3 treeless; -1 if the frame is not laid out that way.
int zstd_literals_type(std::span<const std::byte> f) {
  auto b = [&](std::size_t i) { return std::to_integer<unsigned>(f[i]); };
  if (f.size() < 8 || b(0) != 0x28 || b(1) != 0xb5 || b(2) != 0x2f || b(3) != 0xfd) return -1;
  const unsigned fhd = b(4);
  const bool single = (fhd & 0x20) != 0;
  static constexpr std::size_t kFcs[4] = {0, 2, 4, 8};
  std::size_t pos = 5 + (single ? 0 : 1) + ((fhd & 3) == 3 ? 4 : (fhd & 3)) +
                    ((fhd >> 6) == 0 ? (single ? 1 : 0) : kFcs[fhd >> 6]);
  if (pos + 4 > f.size() || ((b(pos) >> 1) & 3) != 2) return -1; // not a compressed block
  return static_cast<int>(b(pos + 3) & 3);
}

TEST(Codec, ZstdCodesLiteralsOnlyWhereTheyHaveEntropy) {
  auto comp = PageCompressor::create(Codec::kZstd, 4096);
  ASSERT_TRUE(comp);
  PageDecompressor decomp;
  auto roundtrip = [&](const std::vector<std::byte>& in) {
    std::vector<std::byte> out((*comp)->bound());
    std::size_t n = (*comp)->compress(in, out);
    EXPECT_GT(n, 0u);
    out.resize(n);
    std::vector<std::byte> back(4096);
    EXPECT_TRUE(decomp.decompress(codec_flag(Codec::kZstd), out, back));
    EXPECT_EQ(back, in);
    return out;
  };
  // Mostly zero, every 32nd byte one of four small values (sampled entropy ~1.3 bits): its 128
  // literals would Huffman-code to 2 bits each, but the page keeps them raw.
  std::vector<std::byte> sparse(4096);
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i < sparse.size(); i += 32) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    sparse[i] = static_cast<std::byte>(1 + x % 4);
  }
  EXPECT_EQ(zstd_literals_type(roundtrip(sparse)), 0);
  // English-like text (~4 bits per byte): Huffman-coded literals.
  std::vector<std::byte> text(4096);
  const char* words[] = {"crash ", "dump ", "kernel ", "page ", "guest ", "memory ", "the "};
  for (std::size_t i = 0; i < text.size();) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    for (const char* w = words[x % 7]; *w != 0 && i < text.size(); ++w) {
      text[i++] = static_cast<std::byte>(*w ^ ((x >> 8) % 3 == 0 ? 0x20 : 0)); // some capitals
    }
  }
  EXPECT_EQ(zstd_literals_type(roundtrip(text)), 2);
}

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
