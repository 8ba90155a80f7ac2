// Fuzz target: the Xen xc_core reader (section headers, .note.Xen, vCPU contexts, index) and
// page reads from what it found.

#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "guestdump/formats/xen_core.h"

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
  return 0;
}
