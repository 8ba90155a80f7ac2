// Fuzz target: x86_64 page-table walks (and the utsname read built on them) over a RAM image and
// a VMCOREINFO text taken from the input: lying tables, loops, huge-page bits, roots outside RAM.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_support.h"
#include "guestdump/kernel/kernel_memory.h"

using namespace guestdump;
using namespace guestdump::formats;
using namespace guestdump::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = fuzz::split_memory_input(data, size);
  fuzz::ImageSource src(in.image, in.vmcoreinfo);
  const VmcoreInfo& vi = *src.metadata().vmcoreinfo;
  auto xlat = X86_64Translator::from_vmcoreinfo(vi);
  if (xlat) {
    PhysicalMemory mem(src);
    // Addresses to translate: a few fixed kernel ones, the symbols, and words from the image.
    std::uint64_t vas[16] = {0xffff888000000000ULL, 0xffffffff81000000ULL, 0, ~0ULL};
    std::size_t n = 4;
    for (const char* sym : {"init_uts_ns", "prb", "mem_section", "swapper_pg_dir"}) {
      if (auto v = vi.symbol(sym)) vas[n++] = *v;
    }
    for (std::size_t off = 0; off + 8 <= in.image.size() && n < 16; off += 4096 + 8) {
      std::memcpy(&vas[n++], in.image.data() + off, 8);
    }
    std::byte buf[64];
    for (std::size_t i = 0; i < n; ++i) {
      (void)xlat->translate(mem, vas[i]);
      (void)xlat->read(mem, vas[i] - 32, buf);
    }
  }
  (void)read_guest_utsname(src);
  return 0;
}
