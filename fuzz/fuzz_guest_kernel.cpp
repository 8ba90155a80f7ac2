// Fuzz target: the guest kernel model (GuestKernel::open: page-table root and self-mapping check,
// the SPARSEMEM mem_section table in both layouts, vmemmap detection) and then the whole page
// filter over the struct pages it locates, on a RAM image and a VMCOREINFO text from the input.
// The seeds are small x86_64 guests (make_seeds.cpp) whose mem_section region the fuzzer mutates.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "guestdump/kernel/guest_kernel.h"
#include "guestdump/kernel/page_filter.h"

using namespace guestdump;
using namespace guestdump::formats;
using namespace guestdump::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = fuzz::split_memory_input(data, size);
  if (in.image.size() > (1u << 20)) return 0; // the filter reads every page: keep runs short
  fuzz::ImageSource src(in.image, in.vmcoreinfo);
  auto k = GuestKernel::open(src);
  if (k) {
    GuestKernel& kernel = **k;
    const std::uint64_t max_pfn = src.metadata().max_pfn;
    for (std::uint64_t s = 0; s < kernel.sections() && s < 64; ++s) {
      (void)kernel.section_mem_map(s);
    }
    std::vector<std::byte> buf(16 * kernel.struct_page_size());
    for (std::uint64_t pfn = 0; pfn < max_pfn && pfn < 64; ++pfn) {
      (void)kernel.struct_page_address(pfn);
      const std::uint64_t pps = kernel.pages_per_section();
      const std::uint64_t n = std::min<std::uint64_t>({16, pps - pfn % pps, max_pfn - pfn});
      (void)kernel.read_struct_pages(pfn, n, buf);
    }
    auto copy = kernel.clone();
    (void)copy->translate(kernel.page_offset_base());
  }
  for (int level : {31, 1}) (void)filter_pages(src, level, {}, 1);
  return 0;
}
