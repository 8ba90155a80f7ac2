// Fuzz target: the /proc/PID/maps parser that locate_blocks() uses to find QEMU's RAM blocks.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "live_memory.h"

using namespace guestdump::host::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::uint64_t bytes = 0;
  for (const ProcMapping& m : parse_proc_maps(text)) {
    if (m.end >= m.start) bytes += m.end - m.start;
    (void)m.perms.size();
    (void)m.path.size();
  }
  (void)bytes;
  return 0;
}
