#pragma once
// Checked arithmetic and bounded reads for numbers that come from a dump file or from guest
// memory. The rule (docs/architecture.md, "Guest-derived numbers"): every offset, size, length
// and count taken from such bytes is combined only through these helpers, so a lie near 2^64
// cannot wrap into a small, plausible-looking value, and bytes are loaded only through a
// BoundedBytes view, which answers nullopt instead of reading outside its span.

#include <concepts>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace guestdump {

/// a + b, or nullopt when the sum does not fit in T.
template <std::unsigned_integral T> constexpr std::optional<T> checked_add(T a, T b) {
  T r{};
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// a * b, or nullopt when the product does not fit in T.
template <std::unsigned_integral T> constexpr std::optional<T> checked_mul(T a, T b) {
  T r{};
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// True when the range [offset, offset + width) lies inside [0, limit); never overflows.
constexpr bool fits(std::uint64_t offset, std::uint64_t width, std::uint64_t limit) {
  return offset <= limit && width <= limit - offset;
}

/// A read-only byte span whose loads are bounds-checked: a range outside the span is nullopt,
/// never a read past its end (guest and host are both little-endian).
class BoundedBytes {
public:
  BoundedBytes() = default;
  explicit BoundedBytes(std::span<const std::byte> bytes) : bytes_(bytes) {}

  std::uint64_t size() const { return bytes_.size(); }
  std::span<const std::byte> bytes() const { return bytes_; }

  /// The T at `offset`, if [offset, offset + sizeof(T)) lies inside the span.
  template <typename T>
  requires std::is_trivially_copyable_v<T> std::optional<T> load(std::uint64_t offset)
  const {
    if (!fits(offset, sizeof(T), bytes_.size())) return std::nullopt;
    T v;
    std::memcpy(&v, bytes_.data() + offset, sizeof(T));
    return v;
  }

  /// The bytes [offset, offset + len), if they lie inside the span.
  std::optional<std::span<const std::byte>> sub(std::uint64_t offset, std::uint64_t len) const {
    if (!fits(offset, len, bytes_.size())) return std::nullopt;
    return bytes_.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(len));
  }

private:
  std::span<const std::byte> bytes_;
};

} // namespace guestdump
