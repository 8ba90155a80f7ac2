#pragma once
// x86-64 page-table and kernel-map constants shared by the address translation
// (kernel_memory.cpp) and the guest kernel model (guest_kernel.cpp).

#include <cstdint>
#include <optional>

#include "guestdump/formats/dump_source.h"

namespace guestdump::kernel::x86 {

inline constexpr std::uint64_t kStartKernelMap = 0xffffffff80000000ULL; // __START_KERNEL_map
inline constexpr std::uint64_t kEntryAddrMask = ~0xfff0000000000fffULL; // makedumpfile's ENTRY_MASK
inline constexpr std::uint64_t kPresent = 1;
inline constexpr std::uint64_t kPse = 1 << 7;

/// The dump address of the frame a page-table entry names (`ma`: frame plus offset). For a Xen
/// PV guest the entry holds a machine frame, looked up in `m2p` (DumpMetadata::machine_frames);
/// nullopt when the guest does not own it. Every other guest: `ma` itself (m2p is null).
inline std::optional<std::uint64_t> entry_address(const formats::MachineFrameMap* m2p,
                                                  std::uint64_t ma) {
  if (m2p == nullptr) return ma;
  const auto pfn = m2p->pfn(ma >> 12);
  if (!pfn) return std::nullopt;
  return (*pfn << 12) | (ma & 0xfff);
}

} // namespace guestdump::kernel::x86
