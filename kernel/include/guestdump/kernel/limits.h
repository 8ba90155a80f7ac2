#pragma once
// Documented caps on what a guest kernel's VMCOREINFO and memory may claim (docs/architecture.md,
// "Guest-derived numbers"; the caps on dump files are in guestdump/formats/limits.h). A real
// kernel stays far below each; a claim beyond one is ignored with a warning naming the key and
// the value, or is a kBadData error when nothing safe is left.

#include <cstdint>

namespace guestdump::kernel {

/// No kernel structure VMCOREINFO describes (printk_ringbuffer, prb_desc, printk_info,
/// printk_log, mem_section, ...) is larger than a page.
inline constexpr std::uint64_t kMaxStructSize = 4096;
/// struct page is 56-80 bytes on every x86_64 kernel; 16-1024 bounds SIZE(page).
inline constexpr std::uint64_t kMinStructPageSize = 16;
inline constexpr std::uint64_t kMaxStructPageSize = 1024;

/// The kernel log: a text ring or log_buf is at most 256 MiB, a descriptor ring 2^23 entries.
inline constexpr std::uint64_t kMaxLogDataBytes = std::uint64_t{1} << 28;
inline constexpr std::uint64_t kMaxLogDescriptors = std::uint64_t{1} << 23;
/// What the formatted log may hold; beyond either, the oldest records are dropped (the newest,
/// with the panic, are what matters) with a warning. 8 MiB is 100,000 lines: more than anyone
/// reads, far more than Debian's 128 KiB-1 MiB rings hold, and what a guest flooding its ring
/// with escaped bytes (4 output bytes each) can make dmesg.txt grow to.
inline constexpr std::uint64_t kMaxLogOutputBytes = std::uint64_t{8} << 20;
inline constexpr std::uint64_t kMaxLogRecords = std::uint64_t{1} << 21;

/// The VMCOREINFO locator's budget: candidates read and put to the proof (an honest guest has a
/// handful; each costs up to a page read and a few page-table walks per vCPU), and guest bytes
/// scanned (the note is normally in the first 64 MiB above 16 MiB or 4 GiB). When either runs
/// out the scan stops and its summary says so.
inline constexpr std::uint64_t kLocatorMaxCandidates = 4096;
inline constexpr std::uint64_t kLocatorMaxScanBytes = std::uint64_t{256} << 30;

} // namespace guestdump::kernel
