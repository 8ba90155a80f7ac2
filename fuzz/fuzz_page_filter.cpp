// Fuzz target: the page classifier (PageRules) on its own. VMCOREINFO supplies the struct page
// layout (OFFSET/SIZE of page fields, lying ones included), the PG_* bit numbers, the mapcount
// values and the kernel version; the image is a dump level byte and then an array of struct
// pages, each classified with the next one as its compound successor, as filter_pages() does.
// The filter record parsers (a dump's GUESTDUMP note and its text) read the same bytes.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "guestdump/kernel/page_filter.h"

using namespace guestdump;
using namespace guestdump::formats;
using namespace guestdump::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = fuzz::split_memory_input(data, size);
  const VmcoreInfo vi = VmcoreInfo::parse(in.vmcoreinfo);
  const int level = in.image.empty() ? 31 : in.image[0] & 31;
  auto pages = std::as_bytes(in.image.subspan(in.image.empty() ? 0 : 1));
  PageRules rules = PageRules::create(vi, level);
  (void)rules.missing();
  // filter_pages() classifies only when the kernel model accepted SIZE(page) (16 to 1024).
  const std::uint64_t sp = rules.struct_page_size();
  if (rules.usable() && sp >= 16 && sp <= 1024) {
    std::uint64_t pfn = 0;
    // Each struct page in a heap block of its own size, so that ASan sees a read outside it
    // (in filter_pages() the neighbours are other struct pages, and such a read goes unseen).
    std::vector<std::byte> page, next;
    for (std::size_t off = 0; off + sp <= pages.size() && pfn < 4096; off += sp, ++pfn) {
      page.assign(pages.begin() + off, pages.begin() + off + sp);
      next.clear();
      if (off + 2 * sp <= pages.size()) {
        next.assign(pages.begin() + off + sp, pages.begin() + off + 2 * sp);
      }
      next.shrink_to_fit();
      page.shrink_to_fit();
      auto d = rules.classify(pfn, page, next);
      (void)d;
    }
  }
  (void)parse_filter_record(in.vmcoreinfo);
  (void)find_filter_note(pages);
  return 0;
}
