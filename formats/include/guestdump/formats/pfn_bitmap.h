#pragma once
// A bitmap over page frame numbers in the kdump on-disk bit order (PFN n is bit n&7 of byte
// n>>3, LSB first). Stored as 64-bit words; on little-endian hosts the words' bytes are exactly
// the on-disk bytes.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace guestdump::formats {

static_assert(std::endian::native == std::endian::little, "guestdump targets little-endian hosts");

class PfnBitmap {
public:
  PfnBitmap() = default;
  explicit PfnBitmap(std::uint64_t bits) : bits_(bits), words_((bits + 63) / 64, 0) {}

  std::uint64_t size() const { return bits_; }
  bool test(std::uint64_t pfn) const {
    return pfn < bits_ && ((words_[pfn >> 6] >> (pfn & 63)) & 1) != 0;
  }
  void set(std::uint64_t pfn) { words_[pfn >> 6] |= std::uint64_t{1} << (pfn & 63); }
  void clear(std::uint64_t pfn) { words_[pfn >> 6] &= ~(std::uint64_t{1} << (pfn & 63)); }
  /// Sets or clears [first, first + count), clipped to size().
  void assign_range(std::uint64_t first, std::uint64_t count, bool value);
  /// Number of set bits.
  std::uint64_t count() const;
  /// Number of set bits in [first, first + count).
  std::uint64_t count_range(std::uint64_t first, std::uint64_t count) const;
  /// Number of set bits in [pfn & ~63, pfn): one popcount (pfn < size()).
  std::uint64_t count_in_word_below(std::uint64_t pfn) const {
    const std::uint64_t below = (std::uint64_t{1} << (pfn & 63)) - 1;
    return static_cast<std::uint64_t>(std::popcount(words_[pfn >> 6] & below));
  }
  /// First set bit at or after `from`, or size() if none.
  std::uint64_t next_set(std::uint64_t from) const;
  /// this &= other (sizes may differ; bits past other's size are cleared).
  void intersect(const PfnBitmap& other);

  std::span<const std::uint64_t> words() const { return words_; }
  std::span<std::uint64_t> words() { return words_; }
  /// The on-disk bytes: ceil(size()/8) bytes.
  std::span<const std::byte> bytes() const {
    return std::as_bytes(std::span(words_)).first((bits_ + 7) / 8);
  }
  /// Builds a bitmap of `bits` bits from on-disk bytes (missing bytes are zero).
  static PfnBitmap from_bytes(std::span<const std::byte> bytes, std::uint64_t bits);

  bool operator==(const PfnBitmap& other) const = default;

private:
  std::uint64_t bits_ = 0;
  std::vector<std::uint64_t> words_;
};

} // namespace guestdump::formats
