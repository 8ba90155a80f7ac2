#include <algorithm>
#include <limits>

#include "text.h"
#include <guestdump/common/text.h>
#include <guestdump/policies/free_space.h>

namespace guestdump::policies {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kDescriptorBytes = 24;
constexpr std::uint64_t kPciHole = 4ULL << 30;
constexpr std::uint64_t kHeaderBytes = 1ULL << 20;
constexpr std::uint64_t kMaxLogBuffer = 32ULL << 20;
constexpr std::uint64_t kMetaBytes = 64ULL << 10;

std::uint64_t add(std::uint64_t a, std::uint64_t b) {
  return a > kMax - b ? kMax : a + b;
}
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  return (b != 0 && a > kMax / b) ? kMax : a * b;
}
std::uint64_t div_up(std::uint64_t a, std::uint64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

// Typical compressed share of RAM, in percent, for logs. From the measurements in
// docs/performance.md and shared/docs/machine-notes.md: a 1 GiB guest with 256 MiB of data is
// ~6% of RAM at level 1 with zlib; filtering (level 31) leaves about 1% of a 4 GiB guest.
std::uint64_t typical_percent(int level, Codec codec) {
  std::uint64_t percent = (level & 16) != 0 ? 10 : 25; // free pages excluded or not
  if ((level & (2 | 4 | 8)) == (2 | 4 | 8)) percent /= 2;
  switch (codec) {
  case Codec::kNone:
    return std::min<std::uint64_t>(100, percent * 3);
  case Codec::kLzo:
  case Codec::kSnappy:
    return percent * 3 / 2;
  case Codec::kZstd:
  case Codec::kZlib:
    return percent;
  }
  return percent;
}

} // namespace

DumpSizeEstimate estimate_dump_size(const DumpSizeInput& input) {
  const std::uint64_t pages = div_up(input.ram_bytes, kPage);
  std::uint64_t bound = mul(pages, kPage);
  bound = add(bound, mul(pages, kDescriptorBytes));
  const std::uint64_t bitmap = div_up(div_up(add(input.ram_bytes, kPciHole), kPage), 8);
  bound = add(bound, mul(2, mul(div_up(bitmap, kPage), kPage)));
  bound = add(bound, kHeaderBytes);
  bound = add(bound, std::min(input.ram_bytes, kMaxLogBuffer));
  bound = add(bound, kMetaBytes);
  bound = add(bound, div_up(bound, 50)); // 2% margin
  DumpSizeEstimate out;
  out.upper_bound = bound;
  out.expected = std::min(
      bound, add(mul(input.ram_bytes / 100, typical_percent(input.dump_level, input.codec)),
                 kHeaderBytes));
  return out;
}

std::uint64_t min_free_bytes(const MinFree& min_free, std::uint64_t total_bytes) {
  // percent <= 99 after validate(); clamp anyway so a bad value cannot overflow.
  const std::uint64_t percent = std::min<std::uint64_t>(min_free.percent, 100);
  const std::uint64_t share =
      total_bytes / 100 * percent + div_up(total_bytes % 100 * percent, 100);
  return std::max(min_free.bytes, share);
}

SpaceDecision check_free_space(const StoreSpace& space, const MinFree& min_free,
                               const DumpSizeEstimate& estimate, std::uint64_t pending_bytes,
                               const std::string& what) {
  SpaceDecision out;
  out.needed = add(estimate.upper_bound, pending_bytes);
  out.min_free = min_free_bytes(min_free, space.total_bytes);
  std::string min_text = "min-free " + format_bytes(out.min_free);
  if (min_free.percent > 0) {
    min_text +=
        " (" + std::to_string(min_free.percent) + "% of " + format_bytes(space.total_bytes) + ")";
  }
  const std::string need_text =
      "needs up to " + format_bytes(estimate.upper_bound) +
      (pending_bytes > 0 ? " plus " + format_bytes(pending_bytes) + " for running dumps"
                         : std::string());
  const bool fits = space.free_bytes >= out.needed && space.free_bytes - out.needed >= out.min_free;
  out.allowed = fits;
  if (fits) {
    out.reason = what + " " + need_text + "; " + format_bytes(space.free_bytes) + " free, " +
                 min_text + " stays free";
  } else {
    out.reason = "not enough space for " + what + ": it " + need_text + ", " +
                 format_bytes(space.free_bytes) + " free, " + min_text + " must stay free";
  }
  return out;
}

} // namespace guestdump::policies
