// Fuzz target: the Xen xc_core reader (section headers, .note.Xen, vCPU contexts, index) and
// page reads from what it found; for a PV guest, also the kernel page-table rewrite
// (kernel/pv_page_tables.h) over the input's pages and p2m.

#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "guestdump/formats/xen_core.h"
#include "guestdump/kernel/pv_page_tables.h"

using namespace guestdump;
using namespace guestdump::formats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  // The reader's limits keep PFN bitmaps bounded by the entries stored (plus 2^28 bits), so no
  // input needs skipping here.
  auto src = open_xen_core(file.path());
  if (!src) return 0;
  fuzz::read_some_pages(**src, 64);
  if ((*src)->metadata().machine_frames) {
    // As the locator leaves a PV guest's source: VMCOREINFO whose init_top_pgt is PFN 1, so
    // the page-table rewrite walks whatever tree the input's pages and p2m make.
    DumpMetadata meta = (*src)->metadata();
    meta.vmcoreinfo = VmcoreInfo::parse("PAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\n");
    auto view =
        kernel::with_pseudo_physical_tables(with_metadata(std::move(src).value(), std::move(meta)));
    if (view) fuzz::read_some_pages(**view, 64);
  }
  return 0;
}
