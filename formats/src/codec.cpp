#include "guestdump/formats/codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
// For ZSTD_c_literalCompressionMode, a parameter of the stable ZSTD_CCtx_setParameter().
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "codec_handles.h"

namespace guestdump::formats {

std::optional<Codec> parse_codec(std::string_view name) {
  if (name == "zstd") return Codec::kZstd;
  if (name == "zlib") return Codec::kZlib;
  if (name == "lzo") return Codec::kLzo;
  if (name == "snappy") return Codec::kSnappy;
  if (name == "none") return Codec::kNone;
  return std::nullopt;
}

std::string_view codec_name(Codec codec) {
  switch (codec) {
  case Codec::kNone:
    return "none";
  case Codec::kZlib:
    return "zlib";
  case Codec::kLzo:
    return "lzo";
  case Codec::kSnappy:
    return "snappy";
  case Codec::kZstd:
    return "zstd";
  }
  return "?";
}

std::uint32_t codec_flag(Codec codec) {
  switch (codec) {
  case Codec::kNone:
    return 0;
  case Codec::kZlib:
    return kFlagZlib;
  case Codec::kLzo:
    return kFlagLzo;
  case Codec::kSnappy:
    return kFlagSnappy;
  case Codec::kZstd:
    return kFlagZstd;
  }
  return 0;
}

std::optional<Codec> codec_from_flag(std::uint32_t flag) {
  switch (flag) {
  case kFlagZlib:
    return Codec::kZlib;
  case kFlagLzo:
    return Codec::kLzo;
  case kFlagSnappy:
    return Codec::kSnappy;
  case kFlagZstd:
    return Codec::kZstd;
  default:
    return std::nullopt;
  }
}

bool is_zero_page(std::span<const std::byte> page) {
  const auto* p = page.data();
  std::size_t n = page.size();
  std::size_t i = 0;
  // 256-byte blocks of OR-ed words: GCC vectorizes the inner loop; the early exit per block
  // keeps non-zero pages (the common case for data) cheap.
  for (; i + 256 <= n; i += 256) {
    std::uint64_t acc = 0;
    for (std::size_t j = 0; j < 256; j += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i + j, 8);
      acc |= w;
    }
    if (acc != 0) return false;
  }
  for (; i < n; ++i) {
    if (p[i] != std::byte{0}) return false;
  }
  return true;
}

namespace {

class NoneCompressor final : public PageCompressor {
public:
  std::size_t bound() const override { return 0; }
  std::size_t compress(std::span<const std::byte>, std::span<std::byte>) override { return 0; }
};

class ZstdCompressor final : public PageCompressor {
public:
  ZstdCompressor(detail::UniqueZstdCCtx ctx, detail::UniqueZstdCCtx raw_ctx, std::size_t page_size)
      : ctx_(std::move(ctx)), raw_ctx_(std::move(raw_ctx)), bound_(ZSTD_compressBound(page_size)),
        samples_(page_size / kSampleStride), entropy_term_(samples_ + 1, 0.0f) {
    for (std::size_t c = 1; c <= samples_; ++c) {
      double q = static_cast<double>(c) / static_cast<double>(samples_);
      entropy_term_[c] = static_cast<float>(-q * std::log2(q));
    }
  }
  std::size_t bound() const override { return bound_; }
  std::size_t compress(std::span<const std::byte> page, std::span<std::byte> out) override {
    std::size_t n;
    if (raw_ctx_ && sampled_entropy(page) <= kRawLiteralsMaxEntropy) {
      n = ZSTD_compress2(raw_ctx_.get(), out.data(), out.size(), page.data(), page.size());
    } else {
      // The one-shot call with a known source size lets zstd pick level 1's small-input table
      // sizes (window 4 KiB, hash 8 KiB entries for a 4 KiB page): the per-frame table reset is
      // what dominates at this size. Measured on a real 1 GiB guest's 106k non-zero pages:
      // 285 MB/s per core vs 270 MB/s for ZSTD_compress2 with windowLog=hashLog=12, output
      // size equal within 0.1%.
      n = ZSTD_compressCCtx(ctx_.get(), out.data(), out.size(), page.data(), page.size(), 1);
    }
    if (ZSTD_isError(n) || n >= page.size()) return 0;
    return n;
  }

private:
  // Literals of a page whose bytes have little entropy are stored raw (no Huffman table):
  // matches already carry such pages, and building and writing a Huffman table per 4 KiB frame
  // costs more than it saves. Measured (zstd 1.5.4, level 1, one frame per page, sampled
  // entropy <= 3 bits): the 39.6k non-zero pages a dump level 31 conversion of a 4 GiB guest
  // keeps compress in 0.84x the time at +3.1% size; the 106k of a 1 GiB guest at dump level 1
  // in the same time at +0.7%. Raw literals for every page would cost +17.9% (-d 31).
  // 4 bits rather than 3 (instructions counted by callgrind on the same pages, sizes of
  // the whole conversion): -6.9% of the zstd instructions at -d 31 for +1.0% size, -d 1 +0.7%
  // size; 4.5 bits saved 1% more for as much size again, and past 5 bits the text-like pages of
  // the 1 GiB guest lose their Huffman coding (+17% size at 5.2 bits).
  static constexpr float kRawLiteralsMaxEntropy = 4.0f;
  static constexpr std::size_t kSampleStride = 8;

  // Shannon entropy, in bits per byte, of every kSampleStride-th byte of the page. Four
  // histograms, so that runs of one byte value (the pages this is for) do not chain every
  // increment on the previous one's store; the sum skips the empty bins four at a time. Measured
  // on the pages of a dump level 31 conversion: 0.85 -> 0.48 us per page, ~6% of its CPU time
  // before.
  float sampled_entropy(std::span<const std::byte> page) const {
    constexpr std::size_t kWays = 4;
    std::uint16_t hist[kWays][256] = {};
    const std::size_t n = std::min(samples_ * kSampleStride, page.size());
    std::size_t i = 0;
    for (; i + kWays * kSampleStride <= n; i += kWays * kSampleStride) {
      for (std::size_t w = 0; w < kWays; ++w) {
        ++hist[w][std::to_integer<std::uint8_t>(page[i + w * kSampleStride])];
      }
    }
    for (; i < n; i += kSampleStride) ++hist[0][std::to_integer<std::uint8_t>(page[i])];
    std::uint16_t total[256];
    for (std::size_t b = 0; b < 256; ++b) {
      total[b] = static_cast<std::uint16_t>(hist[0][b] + hist[1][b] + hist[2][b] + hist[3][b]);
    }
    float e = 0;
    for (std::size_t b = 0; b < 256; b += 4) {
      std::uint64_t four;
      std::memcpy(&four, total + b, sizeof four);
      if (four == 0) continue;
      for (std::size_t k = b; k < b + 4; ++k) e += entropy_term_[total[k]];
    }
    return e;
  }

  detail::UniqueZstdCCtx ctx_;
  detail::UniqueZstdCCtx raw_ctx_; // level 1 with raw literals; null if zstd refused the mode
  std::size_t bound_;
  std::size_t samples_;
  std::vector<float> entropy_term_; // -q log2 q for q = count / samples_
};

class ZlibCompressor final : public PageCompressor {
public:
  explicit ZlibCompressor(std::size_t page_size) : bound_(compressBound(page_size)) {
    std::memset(&stream_, 0, sizeof(stream_));
    ok_ = deflateInit(&stream_, Z_BEST_SPEED) == Z_OK;
  }
  ~ZlibCompressor() override {
    if (ok_) deflateEnd(&stream_);
  }
  bool ok() const { return ok_; }
  std::size_t bound() const override { return bound_; }
  std::size_t compress(std::span<const std::byte> page, std::span<std::byte> out) override {
    // One reused stream with deflateReset: avoids re-allocating zlib's window per page
    // (makedumpfile commit aa5ee50 measured 25 s -> 18.5 s for exactly this).
    if (deflateReset(&stream_) != Z_OK) return 0;
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(page.data()));
    stream_.avail_in = static_cast<uInt>(page.size());
    stream_.next_out = reinterpret_cast<Bytef*>(out.data());
    stream_.avail_out = static_cast<uInt>(out.size());
    if (deflate(&stream_, Z_FINISH) != Z_STREAM_END) return 0;
    std::size_t n = stream_.total_out;
    return n < page.size() ? n : 0;
  }

private:
  z_stream stream_;
  std::size_t bound_;
  bool ok_ = false;
};

class LzoCompressor final : public PageCompressor {
public:
  explicit LzoCompressor(std::size_t page_size)
      : bound_(page_size + page_size / 16 + 64 + 3), work_(LZO1X_1_MEM_COMPRESS) {}
  std::size_t bound() const override { return bound_; }
  std::size_t compress(std::span<const std::byte> page, std::span<std::byte> out) override {
    lzo_uint n = out.size();
    int rc = lzo1x_1_compress(reinterpret_cast<const unsigned char*>(page.data()), page.size(),
                              reinterpret_cast<unsigned char*>(out.data()), &n, work_.data());
    if (rc != LZO_E_OK || n >= page.size()) return 0;
    return n;
  }

private:
  std::size_t bound_;
  std::vector<unsigned char> work_;
};

class SnappyCompressor final : public PageCompressor {
public:
  explicit SnappyCompressor(std::size_t page_size)
      : bound_(snappy_max_compressed_length(page_size)) {}
  std::size_t bound() const override { return bound_; }
  std::size_t compress(std::span<const std::byte> page, std::span<std::byte> out) override {
    std::size_t n = out.size();
    if (snappy_compress(reinterpret_cast<const char*>(page.data()), page.size(),
                        reinterpret_cast<char*>(out.data()), &n) != SNAPPY_OK ||
        n >= page.size()) {
      return 0;
    }
    return n;
  }

private:
  std::size_t bound_;
};

// Remembers the output for pages that repeat their first kPeriod bytes to the end (a page of
// one 8-byte word, an array of identical 64-byte structures: 5.5k of the 39k non-zero pages a
// dump level 31 conversion of the 4 GiB test guest keeps, nearly all copies of a few patterns).
// A codec's output depends on the input only, so a copy of the first result is what compressing
// again would give; the check costs one memcmp that stops at the first difference.
class PeriodicPageMemo final : public PageCompressor {
public:
  explicit PeriodicPageMemo(std::unique_ptr<PageCompressor> inner) : inner_(std::move(inner)) {}
  std::size_t bound() const override { return inner_->bound(); }
  std::size_t compress(std::span<const std::byte> page, std::span<std::byte> out) override {
    if (page.size() <= kPeriod ||
        std::memcmp(page.data(), page.data() + kPeriod, page.size() - kPeriod) != 0) {
      return inner_->compress(page, out);
    }
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < kPeriod; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, page.data() + i, 8);
      h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    }
    Entry& e = entries_[h >> (64 - kEntriesLog2)];
    if (e.page_size == page.size() && std::memcmp(e.head, page.data(), kPeriod) == 0 &&
        e.size <= out.size()) {
      std::memcpy(out.data(), e.out, e.size);
      return e.size;
    }
    const std::size_t n = inner_->compress(page, out);
    if (n <= sizeof e.out) {
      e.page_size = page.size();
      std::memcpy(e.head, page.data(), kPeriod);
      std::memcpy(e.out, out.data(), n);
      e.size = n;
    }
    return n;
  }

private:
  static constexpr std::size_t kPeriod = 64;
  static constexpr unsigned kEntriesLog2 = 4;
  struct Entry {
    std::size_t page_size = 0; // 0: empty
    std::byte head[kPeriod];
    std::size_t size = 0; // 0: the codec stores this page raw
    std::byte out[2 * kPeriod];
  };
  std::unique_ptr<PageCompressor> inner_;
  Entry entries_[std::size_t{1} << kEntriesLog2];
};

Result<std::unique_ptr<PageCompressor>> create_codec(Codec codec, std::size_t page_size) {
  switch (codec) {
  case Codec::kNone:
    return std::unique_ptr<PageCompressor>(new NoneCompressor());
  case Codec::kZstd: {
    detail::UniqueZstdCCtx ctx(ZSTD_createCCtx());
    detail::UniqueZstdCCtx raw(ZSTD_createCCtx());
    if (!ctx || !raw) return make_error(ErrorCode::kOs, "zstd: cannot create compression context");
    // Level 1, as makedumpfile uses; each page is its own frame (see compress()).
    if (ZSTD_isError(ZSTD_CCtx_setParameter(raw.get(), ZSTD_c_compressionLevel, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(raw.get(), ZSTD_c_literalCompressionMode,
                                            static_cast<int>(ZSTD_ps_disable)))) {
      raw.reset(); // an older libzstd: every page gets Huffman-coded literals
    }
    return std::unique_ptr<PageCompressor>(
        new ZstdCompressor(std::move(ctx), std::move(raw), page_size));
  }
  case Codec::kZlib: {
    auto c = std::make_unique<ZlibCompressor>(page_size);
    if (!c->ok()) return make_error(ErrorCode::kOs, "zlib: cannot initialise deflate");
    return std::unique_ptr<PageCompressor>(std::move(c));
  }
  case Codec::kLzo:
    if (lzo_init() != LZO_E_OK) return make_error(ErrorCode::kOs, "lzo: initialisation failed");
    return std::unique_ptr<PageCompressor>(new LzoCompressor(page_size));
  case Codec::kSnappy:
    return std::unique_ptr<PageCompressor>(new SnappyCompressor(page_size));
  }
  return make_error(ErrorCode::kUnsupported, "unknown codec");
}

} // namespace

Result<std::unique_ptr<PageCompressor>> PageCompressor::create(Codec codec, std::size_t page_size) {
  GUESTDUMP_TRY(auto c, create_codec(codec, page_size));
  if (codec == Codec::kNone) return c;
  return std::unique_ptr<PageCompressor>(new PeriodicPageMemo(std::move(c)));
}

struct PageDecompressor::Impl {
  detail::UniqueZstdDCtx zstd{ZSTD_createDCtx()};
};

PageDecompressor::PageDecompressor() : impl_(std::make_unique<Impl>()) {}
PageDecompressor::~PageDecompressor() = default;

Result<void> PageDecompressor::decompress(std::uint32_t flags, std::span<const std::byte> in,
                                          std::span<std::byte> out) {
  auto fail = [&](std::string_view codec, const std::string& why) {
    return make_error(ErrorCode::kBadData, std::string(codec) + " decompression failed: " + why);
  };
  switch (flags) {
  case 0:
    if (in.size() != out.size()) {
      return fail("raw", "stored size " + std::to_string(in.size()) + " is not the page size");
    }
    std::memcpy(out.data(), in.data(), out.size());
    return {};
  case kFlagZstd: {
    if (!impl_->zstd) return make_error(ErrorCode::kOs, "zstd: cannot create context");
    std::size_t n =
        ZSTD_decompressDCtx(impl_->zstd.get(), out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n)) return fail("zstd", ZSTD_getErrorName(n));
    if (n != out.size()) return fail("zstd", "short page (" + std::to_string(n) + " bytes)");
    return {};
  }
  case kFlagZlib: {
    uLongf n = out.size();
    int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &n,
                        reinterpret_cast<const Bytef*>(in.data()), in.size());
    if (rc != Z_OK) return fail("zlib", "error " + std::to_string(rc));
    if (n != out.size()) return fail("zlib", "short page (" + std::to_string(n) + " bytes)");
    return {};
  }
  case kFlagLzo: {
    lzo_uint n = out.size();
    int rc = lzo1x_decompress_safe(reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                                   reinterpret_cast<unsigned char*>(out.data()), &n, nullptr);
    if (rc != LZO_E_OK) return fail("lzo", "error " + std::to_string(rc));
    if (n != out.size()) return fail("lzo", "short page (" + std::to_string(n) + " bytes)");
    return {};
  }
  case kFlagSnappy: {
    std::size_t n = 0;
    const char* src = reinterpret_cast<const char*>(in.data());
    if (snappy_uncompressed_length(src, in.size(), &n) != SNAPPY_OK || n != out.size()) {
      return fail("snappy", "bad length");
    }
    if (snappy_uncompress(src, in.size(), reinterpret_cast<char*>(out.data()), &n) != SNAPPY_OK) {
      return fail("snappy", "corrupt data");
    }
    return {};
  }
  default:
    return make_error(
        ErrorCode::kBadData, "unknown page compression flags 0x" + [&] {
          char b[16];
          std::snprintf(b, sizeof b, "%x", flags);
          return std::string(b);
        }());
  }
}

} // namespace guestdump::formats
