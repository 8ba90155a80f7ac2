// Fuzz target: the kdump-compressed reader (plain and flattened): header, sub header, bitmaps,
// descriptors and page decompression.

#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "guestdump/formats/dump_source.h"

using namespace guestdump;
using namespace guestdump::formats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  auto src = open_kdump(file.path());
  if (!src) return 0;
  (void)(*src)->shared_zero_pages();
  fuzz::read_some_pages(**src, 64);
  return 0;
}
