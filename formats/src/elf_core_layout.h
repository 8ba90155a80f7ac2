#pragma once
// ELF core header parsing shared by the file reader (elf_core.cpp) and the streaming capture
// (stream_capture.cpp), which sees the same headers arrive through a pipe. Private to formats/.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"

namespace guestdump::formats::detail {

/// A PT_LOAD: guest-physical range [paddr, paddr + memsz), file data [offset, offset + filesz).
struct ElfSegment {
  std::uint64_t paddr = 0;
  std::uint64_t memsz = 0;
  std::uint64_t filesz = 0;
  std::uint64_t offset = 0;
};

struct ElfCoreLayout {
  DumpMetadata meta;                // everything but `path`-independent page data
  std::vector<ElfSegment> segments; // sorted by paddr, non-overlapping
};

/// Headers and notes never need more than this (QEMU's are a few KiB per vCPU).
inline constexpr std::uint64_t kMaxElfHead = 64ull << 20;

/// How many bytes from offset 0 parse_elf_core_head() needs, judged from the `head` bytes
/// available so far; when the result is <= head.size(), head is enough. Call again with more
/// bytes until it is (at most a few rounds: ELF header, section header 0, program headers,
/// notes). Errors for non-ELF input and for headers beyond kMaxElfHead.
Result<std::uint64_t> elf_core_head_size(std::span<const std::byte> head);

/// Whether file ranges [a, a + n) and [b, b + n) hold the same bytes (alias check for
/// overlapping PT_LOADs); empty = overlaps are always errors.
using SameBytes = std::function<bool(std::uint64_t a, std::uint64_t b, std::uint64_t n)>;

/// Parses an ELF core's headers and notes from `head` (the file's first bytes; must hold all
/// that elf_core_head_size() asks for). `file_size` bounds the segments' file data (pass the
/// expected total for a stream). Fills metadata (RAM/available bitmaps, notes, VMCOREINFO,
/// CPUs) but not `path`-specific fields beyond `meta.path`.
Result<ElfCoreLayout> parse_elf_core_head(std::span<const std::byte> head, std::uint64_t file_size,
                                          const std::string& path, const SameBytes& same_bytes);

} // namespace guestdump::formats::detail
