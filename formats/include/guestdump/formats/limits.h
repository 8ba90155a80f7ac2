#pragma once
// Documented caps on what a dump file may claim (docs/architecture.md, "Guest-derived numbers";
// the caps on guest kernel structures are in guestdump/kernel/limits.h). A real dump stays far
// below each; a claim beyond one is ignored with a warning naming the key and the value, or is
// a kBadData error when nothing safe is left.

#include <cstdint>

namespace guestdump::formats {

/// PFN-indexed bitmaps and tables may span at most this many PFNs beyond the pages a dump
/// actually holds (1 TiB of holes: 32 MiB per bitmap). Real holes are the VGA window and the
/// MMIO hole below 4 GiB.
inline constexpr std::uint64_t kMaxPfnHoles = std::uint64_t{1} << 28;

} // namespace guestdump::formats
