// Fuzz target: kernel log extraction from a RAM image and VMCOREINFO taken from the input, both
// through the page-table walker and through a flat direct-map view (which lets the fuzzer reach
// the ring-buffer logic without building page tables).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_support.h"
#include "guestdump/kernel/kernel_log.h"

using namespace guestdump;
using namespace guestdump::formats;
using namespace guestdump::kernel;

namespace {
constexpr std::uint64_t kDirectMap = 0xffff888000000000ULL;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = fuzz::split_memory_input(data, size);
  fuzz::ImageSource src(in.image, in.vmcoreinfo);
  (void)read_kernel_log(src);
  auto img = in.image;
  KernelReadFn flat = [img](std::uint64_t va, std::span<std::byte> out) -> Result<void> {
    const std::uint64_t off = va - kDirectMap;
    if (va < kDirectMap || off > img.size() || img.size() - off < out.size()) {
      return make_error(ErrorCode::kNotFound, "not mapped");
    }
    std::memcpy(out.data(), img.data() + off, out.size());
    return {};
  };
  auto log = extract_kernel_log(*src.metadata().vmcoreinfo, flat);
  if (log && !log->text.empty()) {
    volatile char c = log->text.back();
    (void)c;
  }
  return 0;
}
