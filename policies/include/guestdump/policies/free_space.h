#pragma once
// Free-space check before a dump: estimate an upper bound of what the dump will write, and
// refuse when the store would drop below `min-free`.
//
// The estimate is a bound, not a guess, because a wrong guess fills the disk. For a guest of R
// bytes of RAM (P = R / 4096 pages, rounded up) the kdump-compressed file holds at most:
//   pages     P x 4096         a page that does not shrink is stored raw, so no codec (and
//                              `none`) ever needs more; dump levels only remove pages
//   page descriptors  P x 24   one per dumped page
//   bitmaps   2 x (R + 4 GiB) / 4096 / 8, block-rounded: max_pfn exceeds R by the PCI hole,
//                              which is below 4 GiB on x86
//   headers   1 MiB            main/sub header, VMCOREINFO, one ELF note per vCPU
// plus dmesg.txt (at most min(R, 32 MiB), the kernel's largest log buffer) and meta.json
// (64 KiB), then a 2% margin for file-system overhead (indirect blocks, extents). The bound is
// therefore about 1.03 x RAM + 33 MiB whatever the level and codec; `expected_bytes` gives the
// size to plan with on average (reported only, never used to refuse).

#include <cstdint>
#include <string>

#include <guestdump/policies/config.h>

namespace guestdump::policies {

struct DumpSizeInput {
  std::uint64_t ram_bytes = 0; // guest RAM (libvirt's current memory, or max memory if larger)
  int dump_level = 31;
  Codec codec = Codec::kZstd;
};

struct DumpSizeEstimate {
  std::uint64_t upper_bound = 0; // what the free-space check reserves
  std::uint64_t expected = 0;    // typical size, for logs only
};

/// The bound above. Saturates at UINT64_MAX rather than overflowing.
DumpSizeEstimate estimate_dump_size(const DumpSizeInput& input);

/// The store's file system as statvfs(3) reports it to an unprivileged writer.
struct StoreSpace {
  std::uint64_t free_bytes = 0;  // f_bavail x f_frsize
  std::uint64_t total_bytes = 0; // f_blocks x f_frsize
};

struct SpaceDecision {
  bool allowed = false;
  std::uint64_t needed = 0;   // bound for this dump plus what running dumps may still write
  std::uint64_t min_free = 0; // min-free in bytes for this file system
  std::string reason;         // why it was refused, or a summary when allowed
};

/// Allowed when free - needed >= min_free (equal is allowed: the store stays at the minimum).
/// `pending_bytes` is what dumps already running may still write. `what` names the dump in the
/// reason ("dump of 'web1'").
SpaceDecision check_free_space(const StoreSpace& space, const MinFree& min_free,
                               const DumpSizeEstimate& estimate, std::uint64_t pending_bytes,
                               const std::string& what);

/// min-free in bytes: max(bytes, percent of total), rounded up.
std::uint64_t min_free_bytes(const MinFree& min_free, std::uint64_t total_bytes);

} // namespace guestdump::policies
