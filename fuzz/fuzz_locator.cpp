// Fuzz target: the VMCOREINFO locator over a RAM image with vCPU state from the input: lying
// QEMU CPU notes (CR3 anywhere, paging bits), page tables that loop or point outside RAM, note
// headers with absurd sizes, text that half-parses, candidates straddling pages, a hint anywhere.
// Input: the memory-input split, where the text part is the note blob (QEMU notes).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_support.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

using namespace guestdump;
using namespace guestdump::formats;
using namespace guestdump::kernel;

namespace {

// The image as guest RAM, with the input's notes and no VMCOREINFO.
class NotesSource final : public DumpSource {
public:
  NotesSource(const fuzz::ImageSource& ram, std::string_view notes) : ram_(ram) {
    meta_ = ram.metadata();
    meta_.vmcoreinfo.reset();
    auto* p = reinterpret_cast<const std::byte*>(notes.data());
    meta_.notes.assign(p, p + notes.size());
  }
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override { return ram_.make_reader(); }

private:
  const fuzz::ImageSource& ram_;
  DumpMetadata meta_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = fuzz::split_memory_input(data, size);
  if (in.image.size() > (8u << 20)) return 0; // the scan reads every page: keep runs short
  fuzz::ImageSource ram(in.image, "");
  NotesSource src(ram, in.vmcoreinfo);
  LocateOptions opts;
  opts.likely_region_bytes = 1 << 20;
  if (in.image.size() >= 8) {
    std::uint64_t hint;
    std::memcpy(&hint, in.image.data(), 8);
    opts.hint_pa = hint;
  }
  auto rep = locate_vmcoreinfo(src, opts);
  if (rep && rep->vmcoreinfo) (void)rep->vmcoreinfo->osrelease();
  auto view = view_with_vmcoreinfo(src, opts);
  if (view) (void)vmcoreinfo_origin((*view)->metadata());
  (void)parse_sysfs_vmcoreinfo(in.vmcoreinfo);
  return 0;
}
