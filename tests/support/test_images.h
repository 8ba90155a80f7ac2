#pragma once
// Shared synthetic guest images for the formats unit tests.

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/dump_source.h"

namespace guestdump::formats::testimg {

inline constexpr const char* kVmcoreinfo =
    "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=16777216\nCRASHTIME=1700000000\n";

/// A guest with RAM [0, 1 MiB) and [4 MiB, 4 MiB + 256 KiB): zero pages, compressible pages,
/// incompressible pages, and a segment whose file data stops before its memory end.
inline test::ElfCoreSpec guest_spec() {
  test::ElfCoreSpec spec;
  spec.notes = {test::make_prstatus_note(1, 0xffffffff81000000ULL),
                test::make_prstatus_note(2, 0xffffffff81000010ULL),
                test::make_vmcoreinfo_note(kVmcoreinfo)};
  test::ElfSegment low;
  low.paddr = 0;
  low.vaddr = 0;
  low.memsz = 1 << 20;
  for (int i = 0; i < 256; ++i) {
    std::vector<std::uint8_t> page(4096, 0);
    if (i % 4 == 1) page = test::make_page(static_cast<std::uint64_t>(i), 4096, true);
    if (i % 4 == 2) page = test::make_page(static_cast<std::uint64_t>(i), 4096, false);
    low.data.insert(low.data.end(), page.begin(), page.end());
  }
  test::ElfSegment high;
  high.paddr = 4 << 20;
  high.vaddr = 4 << 20;
  high.memsz = 256 << 10;
  for (int i = 0; i < 48; ++i) { // 16 pages of memsz have no file data
    auto page = test::make_page(1000 + static_cast<std::uint64_t>(i), 4096, i % 2 == 0);
    high.data.insert(high.data.end(), page.begin(), page.end());
  }
  spec.loads = {low, high};
  spec.phdrs_after_section_header = true; // QEMU >= 7.2 layout
  return spec;
}

/// Bytes of physical page `pfn` according to the spec (zero past file data).
inline std::vector<std::byte> expected_page(const test::ElfCoreSpec& spec, std::uint64_t pfn) {
  std::vector<std::byte> out(4096, std::byte{0});
  std::uint64_t pa = pfn * 4096;
  for (const auto& s : spec.loads) {
    if (pa >= s.paddr && pa < s.paddr + s.memsz) {
      std::uint64_t off = pa - s.paddr;
      if (off < s.data.size()) {
        std::memcpy(out.data(), s.data.data() + off,
                    std::min<std::uint64_t>(4096, s.data.size() - off));
      }
    }
  }
  return out;
}

/// Whether every page `src` holds reads back as the spec's bytes, and there are `count` of them.
inline testing::AssertionResult
pages_match_spec(const DumpSource& src, const test::ElfCoreSpec& spec, std::uint64_t count) {
  const auto& m = src.metadata();
  auto reader = src.make_reader();
  std::vector<std::byte> scratch(4096);
  std::uint64_t n = 0;
  for (std::uint64_t pfn = m.available.next_set(0); pfn < m.max_pfn;
       pfn = m.available.next_set(pfn + 1)) {
    auto p = reader->read(pfn, scratch);
    if (!p) return testing::AssertionFailure() << p.error().what();
    if (std::memcmp(*p, expected_page(spec, pfn).data(), 4096) != 0)
      return testing::AssertionFailure() << "pfn " << pfn << " differs";
    ++n;
  }
  if (n != count) return testing::AssertionFailure() << n << " pages, expected " << count;
  return testing::AssertionSuccess();
}

} // namespace guestdump::formats::testimg
