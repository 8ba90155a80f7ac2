// The ordered compression pipeline shared by the kdump writer and the capture spool: chunks reach
// the consumer in order whatever the workers' timing, a chunk's error arrives in its place, and a
// consumer's failure stops the producer.

#include "compress_pipeline.h"

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace guestdump::formats::detail {
namespace {

constexpr std::uint32_t kPage = 4096;

std::vector<std::byte> page_of(std::uint64_t chunk, std::uint64_t i) {
  std::vector<std::byte> p(kPage);
  for (std::size_t b = 0; b < kPage; ++b) {
    p[b] = static_cast<std::byte>((chunk * 31 + i * 7 + b / 64) & 0xff);
  }
  return p;
}

CompressPipelineOptions options(unsigned threads) {
  CompressPipelineOptions o;
  o.codec = Codec::kZstd;
  o.page_size = kPage;
  o.threads = threads;
  o.max_chunk_pages = 4;
  return o;
}

// Whether `chunk` holds `pages` pages that decompress to what the fill gave (any thread).
bool pages_match(const CompressedChunk& chunk, std::uint64_t pages, std::uint64_t seed) {
  if (chunk.pages.size() != pages) return false;
  PageDecompressor dec;
  std::vector<std::byte> out(kPage);
  for (std::uint64_t i = 0; i < pages; ++i) {
    const CompressedPage& p = chunk.pages[i];
    if (p.zero || p.offset + p.size > chunk.data.size()) return false;
    auto stored = chunk.data.subspan(p.offset, p.size);
    if (p.flags == 0) {
      if (p.size != kPage) return false;
      std::copy(stored.begin(), stored.end(), out.begin());
    } else if (!dec.decompress(p.flags, stored, out)) {
      return false;
    }
    if (out != page_of(seed, i)) return false;
  }
  return true;
}

TEST(CompressPipeline, ChunksArriveInOrderAndAnErrorInItsPlace) {
  constexpr std::uint64_t kChunks = 24;
  auto fill = [](unsigned, ChunkBuilder& b) -> Result<void> {
    const std::uint64_t c = b.index();
    // Early chunks are slow, so later ones finish first.
    if (c % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (c == 17) return make_error(ErrorCode::kBadData, "chunk 17 is bad");
    for (std::uint64_t i = 0; i < c % 4 + 1; ++i) b.add(page_of(c, i));
    return {};
  };
  auto p = CompressPipeline::start(options(3), kChunks, fill);
  ASSERT_TRUE(p) << p.error().what();
  for (std::uint64_t c = 0; c < 17; ++c) {
    auto chunk = (*p)->next();
    ASSERT_TRUE(chunk) << chunk.error().what();
    ASSERT_NE(*chunk, nullptr);
    EXPECT_EQ((*chunk)->index, c);
    EXPECT_TRUE(pages_match(**chunk, c % 4 + 1, c));
    (*p)->release();
  }
  auto bad = (*p)->next();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "chunk 17 is bad");
}

TEST(CompressPipeline, ZeroPagesAreNotedOnlyWhenAsked) {
  for (bool detect : {true, false}) {
    CompressPipelineOptions o = options(1);
    o.detect_zero_pages = detect;
    auto fill = [](unsigned, ChunkBuilder& b) -> Result<void> {
      b.add(std::vector<std::byte>(kPage));
      return {};
    };
    auto p = CompressPipeline::start(o, 1, fill);
    ASSERT_TRUE(p) << p.error().what();
    auto chunk = (*p)->next();
    ASSERT_TRUE(chunk) << chunk.error().what();
    ASSERT_EQ((*chunk)->pages.size(), 1u);
    EXPECT_EQ((*chunk)->pages[0].zero, detect);
    EXPECT_EQ((*chunk)->data.empty(), detect);
    (*p)->release();
    auto end = (*p)->next();
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, nullptr);
  }
}

TEST(CompressPipeline, SubmittedChunksKeepTheirTagsAndOrder) {
  auto fill = [](unsigned, ChunkBuilder& b) -> Result<void> {
    auto in = b.input();
    for (std::size_t off = 0; off < in.size(); off += kPage) b.add(in.subspan(off, kPage));
    return {};
  };
  CompressPipelineOptions o = options(2);
  o.input_bytes = 4 * kPage;
  auto p = CompressPipeline::start(o, std::nullopt, fill);
  ASSERT_TRUE(p) << p.error().what();
  constexpr std::uint64_t kChunks = 30;
  std::vector<std::uint64_t> tags;
  std::vector<bool> matches;
  std::thread consumer([&] {
    while (true) {
      auto chunk = (*p)->next();
      if (!chunk || *chunk == nullptr) return;
      tags.push_back((*chunk)->tag);
      matches.push_back(pages_match(**chunk, 3, (*chunk)->tag - 1000));
      (*p)->release();
    }
  });
  for (std::uint64_t c = 0; c < kChunks; ++c) {
    auto r = (*p)->submit(1000 + c, 3 * kPage, [&](std::span<std::byte> buf) -> Result<void> {
      for (std::uint64_t i = 0; i < 3; ++i) {
        auto page = page_of(c, i);
        std::copy(page.begin(), page.end(), buf.begin() + static_cast<std::ptrdiff_t>(i * kPage));
      }
      return {};
    });
    if (!r) break;
  }
  (*p)->close();
  consumer.join();
  ASSERT_EQ(tags.size(), kChunks);
  for (std::uint64_t c = 0; c < kChunks; ++c) {
    EXPECT_EQ(tags[c], 1000 + c);
    EXPECT_TRUE(matches[c]) << "chunk " << c;
  }
  EXPECT_TRUE((*p)->status());
}

TEST(CompressPipeline, ConsumerFailureStopsTheProducer) {
  auto fill = [](unsigned, ChunkBuilder& b) -> Result<void> {
    b.add(b.input());
    return {};
  };
  CompressPipelineOptions o = options(2);
  o.input_bytes = kPage;
  auto p = CompressPipeline::start(o, std::nullopt, fill);
  ASSERT_TRUE(p) << p.error().what();
  std::thread consumer([&] {
    auto chunk = (*p)->next();
    if (chunk && *chunk) (*p)->fail(make_error(ErrorCode::kOs, "write 'spool': disk full"));
  });
  // The ring holds 8 chunks: without the failure reaching it, the producer would block here.
  Result<void> r;
  for (int c = 0; c < 100 && r; ++c) {
    r = (*p)->submit(c, kPage, [&](std::span<std::byte> buf) -> Result<void> {
      auto page = page_of(0, 0);
      std::copy(page.begin(), page.end(), buf.begin());
      return {};
    });
  }
  consumer.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "write 'spool': disk full");
  EXPECT_FALSE((*p)->status());
}

} // namespace
} // namespace guestdump::formats::detail
