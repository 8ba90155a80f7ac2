#pragma once
// Per-page compression codecs of the kdump-compressed format.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "guestdump/common/result.h"

namespace guestdump::formats {

enum class Codec { kNone, kZlib, kLzo, kSnappy, kZstd };

/// Page descriptor / header flag bits (DUMP_DH_COMPRESSED_*).
inline constexpr std::uint32_t kFlagZlib = 0x01;
inline constexpr std::uint32_t kFlagLzo = 0x02;
inline constexpr std::uint32_t kFlagSnappy = 0x04;
inline constexpr std::uint32_t kFlagIncomplete = 0x08;
inline constexpr std::uint32_t kFlagExcludedVmemmap = 0x10;
inline constexpr std::uint32_t kFlagZstd = 0x20;

std::optional<Codec> parse_codec(std::string_view name);
std::string_view codec_name(Codec codec);
std::uint32_t codec_flag(Codec codec);
/// Codec named by one page-descriptor flag value; nullopt for 0 (raw) or unknown bits.
std::optional<Codec> codec_from_flag(std::uint32_t flag);

/// Compresses single pages. Not thread-safe: one per worker thread.
class PageCompressor {
public:
  static Result<std::unique_ptr<PageCompressor>> create(Codec codec, std::size_t page_size);
  virtual ~PageCompressor() = default;
  /// Upper bound of compress()'s output for one page.
  virtual std::size_t bound() const = 0;
  /// Compresses `page` into `out` (at least bound() bytes). Returns the compressed size, or 0
  /// when the codec failed or the result would not be smaller than the page (store it raw).
  virtual std::size_t compress(std::span<const std::byte> page, std::span<std::byte> out) = 0;
};

/// Decompresses single pages of any codec. Not thread-safe: one per thread.
class PageDecompressor {
public:
  PageDecompressor();
  ~PageDecompressor();
  PageDecompressor(const PageDecompressor&) = delete;
  PageDecompressor& operator=(const PageDecompressor&) = delete;
  /// Decompresses `in` stored with descriptor `flags` into `out` (exactly one page);
  /// flags == 0 means raw. The result must fill `out` exactly.
  Result<void> decompress(std::uint32_t flags, std::span<const std::byte> in,
                          std::span<std::byte> out);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// True if every byte of `page` is zero (word-wise, vectorizable).
bool is_zero_page(std::span<const std::byte> page);

} // namespace guestdump::formats
