// Fuzz target: the parser of HMP `info mtree -f` (QEMU's flat memory map, where a guest places
// its PCI BARs and ROMs) and the live-memory view built from its ranges: page spans, the RAM
// bitmap and host addresses. No page is read from a process.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include "fuzz_support.h"
#include "live_memory.h"

using namespace guestdump;
using namespace guestdump::host::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ranges = parse_mtree_flat(text);
  if (!ranges) return 0;
  // The RAM bitmap is dense up to the highest range (below 2^52 after parsing): a range high up
  // costs up to 2^40 bits (a known limit of the live path), so the view is built only below
  // 2^38 to keep runs fast.
  for (const auto& r : *ranges) {
    if (r.gpa + r.size > (std::uint64_t{1} << 38)) return 0;
  }
  // Every block at a host address of its own; ROM-like ranges of one block served locally.
  std::vector<std::pair<std::string, std::uint64_t>> hva;
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> local;
  std::uint64_t next = 0x7f0000000000ULL;
  for (const auto& r : *ranges) {
    if (r.block == "pc.rom" && r.size <= 65536) {
      local.emplace_back(r.gpa, std::vector<std::byte>(r.size));
      continue;
    }
    hva.emplace_back(r.block, next);
    next += 1ULL << 32;
  }
  formats::DumpMetadata meta;
  auto ranges_copy = *ranges;
  LiveGuestMemory mem(::getpid(), std::move(meta), std::move(ranges_copy), std::move(hva),
                      std::move(local));
  for (const auto& r : *ranges) {
    (void)mem.host_address(r.gpa / 4096);
    (void)mem.host_address((r.gpa + r.size) / 4096);
  }
  (void)mem.metadata().ram.count_range(0, mem.metadata().ram.size());
  return 0;
}
