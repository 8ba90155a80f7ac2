#include "guestdump/formats/pfn_bitmap.h"

#include <algorithm>
#include <cstring>

namespace guestdump::formats {

void PfnBitmap::assign_range(std::uint64_t first, std::uint64_t count, bool value) {
  if (first >= bits_) return;
  std::uint64_t end = std::min(bits_, first + count);
  std::uint64_t i = first;
  while (i < end && (i & 63) != 0) {
    value ? set(i) : clear(i);
    ++i;
  }
  for (; i + 64 <= end; i += 64) words_[i >> 6] = value ? ~std::uint64_t{0} : 0;
  for (; i < end; ++i) value ? set(i) : clear(i);
}

std::uint64_t PfnBitmap::count() const {
  std::uint64_t n = 0;
  for (auto w : words_) n += static_cast<std::uint64_t>(std::popcount(w));
  return n;
}

std::uint64_t PfnBitmap::count_range(std::uint64_t first, std::uint64_t count) const {
  if (first >= bits_) return 0;
  std::uint64_t end = std::min(bits_, first + count);
  std::uint64_t n = 0;
  std::uint64_t i = first;
  while (i < end && (i & 63) != 0) n += test(i++) ? 1 : 0;
  for (; i + 64 <= end; i += 64) n += static_cast<std::uint64_t>(std::popcount(words_[i >> 6]));
  for (; i < end; ++i) n += test(i) ? 1 : 0;
  return n;
}

std::uint64_t PfnBitmap::next_set(std::uint64_t from) const {
  if (from >= bits_) return bits_;
  std::size_t w = from >> 6;
  std::uint64_t word = words_[w] & (~std::uint64_t{0} << (from & 63));
  while (true) {
    if (word != 0) {
      std::uint64_t pfn =
          (std::uint64_t{w} << 6) + static_cast<std::uint64_t>(std::countr_zero(word));
      return std::min(pfn, bits_);
    }
    if (++w >= words_.size()) return bits_;
    word = words_[w];
  }
}

void PfnBitmap::intersect(const PfnBitmap& other) {
  for (std::size_t i = 0; i < words_.size(); ++i) {
    words_[i] &= i < other.words_.size() ? other.words_[i] : 0;
  }
  // Bits of `other` past its size are zero already; nothing else to mask.
}

PfnBitmap PfnBitmap::from_bytes(std::span<const std::byte> bytes, std::uint64_t bits) {
  PfnBitmap bm(bits);
  std::size_t n = std::min<std::size_t>(bytes.size(), (bits + 7) / 8);
  std::memcpy(bm.words_.data(), bytes.data(), n);
  // Clear bits past `bits` in the last byte so that count() is exact.
  if (bits % 64 != 0 && !bm.words_.empty()) {
    bm.words_.back() &= (std::uint64_t{1} << (bits % 64)) - 1;
  }
  return bm;
}

} // namespace guestdump::formats
