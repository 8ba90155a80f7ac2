#pragma once
// Writes a filtered ELF core, like `makedumpfile -E`: an ELF64 header with the program headers
// right after it (makedumpfile 1.7.2 expects e_phoff = 64), one PT_NOTE with the source's notes
// first (crash expects it as phdr 0), then PT_LOADs in physical-address order. Each PT_LOAD
// starts at a run of kept pages and carries only their data; the excluded RAM that follows the
// run, up to the next kept page or the end of the RAM range, is covered by p_memsz beyond
// p_filesz (the makedumpfile -E convention: "in RAM, not dumped"), so readers still see the
// guest's RAM map. A RAM range that starts with excluded pages begins with a data-less PT_LOAD.
// With 0xffff or more program headers the count moves to section header 0 (PN_XNUM).
// p_vaddr = p_paddr, as in QEMU's paging=false dumps; p_align = 0, so crash reads the file as
// a kdump ELF.

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/pfn_bitmap.h"

namespace guestdump::formats {

struct ElfWriteRequest {
  const DumpSource* source = nullptr;
  std::span<const std::byte> notes;    // the PT_NOTE contents (VMCOREINFO included)
  const PfnBitmap* ram = nullptr;      // RAM map (the kdump 1st bitmap)
  const PfnBitmap* dumpable = nullptr; // pages whose data is written (the kdump 2nd bitmap)
  /// Dump level bit 1: all-zero pages are excluded too (ELF has no shared zero page), as
  /// makedumpfile -E does; this costs one extra read pass over the kept pages.
  bool exclude_zero_pages = false;
  std::function<void(std::uint64_t pages_done, std::uint64_t pages_total)> progress;
};

struct ElfWriteStats {
  std::uint64_t pages_dumped = 0;
  std::uint64_t pages_zero = 0; // excluded because all zero (exclude_zero_pages)
  std::uint64_t segments = 0;   // PT_LOAD headers
  std::uint64_t file_size = 0;
};

/// Writes the ELF core to `fd` front to back (pipes work); `name` is used in error messages.
/// Only x86_64 guests are supported.
Result<ElfWriteStats> write_elf_core(const ElfWriteRequest& req, int fd, const std::string& name);

} // namespace guestdump::formats
