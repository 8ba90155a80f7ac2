#pragma once
// x86-64 page-table and kernel-map constants shared by the address translation
// (kernel_memory.cpp) and the guest kernel model (guest_kernel.cpp).

#include <cstdint>

namespace guestdump::kernel::x86 {

inline constexpr std::uint64_t kStartKernelMap = 0xffffffff80000000ULL; // __START_KERNEL_map
inline constexpr std::uint64_t kEntryAddrMask = ~0xfff0000000000fffULL; // makedumpfile's ENTRY_MASK
inline constexpr std::uint64_t kPresent = 1;
inline constexpr std::uint64_t kPse = 1 << 7;

} // namespace guestdump::kernel::x86
