// Fuzz target: the ELF core reader (headers, notes, segments) and page reads from what it found.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <elf.h>

#include "fuzz_support.h"
#include "guestdump/formats/dump_source.h"

using namespace guestdump;
using namespace guestdump::formats;

namespace {

// Valid cores may describe RAM up to 2^52 bytes, which costs the reader PFN bitmaps of up to
// 2^37 bytes: correct, but no use to the fuzzer (it only hits the memory limit). Inputs whose
// PT_LOADs reach beyond 4 GiB are skipped; the reader's own limits are tested by the rest.
bool describes_huge_memory(const std::uint8_t* data, std::size_t size) {
  if (size < sizeof(Elf64_Ehdr) || std::memcmp(data, ELFMAG, SELFMAG) != 0) return false;
  if (data[EI_CLASS] != ELFCLASS64) return false; // ELF32 addresses stay below 4 GiB
  Elf64_Ehdr eh;
  std::memcpy(&eh, data, sizeof eh);
  std::uint64_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM && eh.e_shoff <= size && size - eh.e_shoff >= sizeof(Elf64_Shdr)) {
    Elf64_Shdr sh;
    std::memcpy(&sh, data + eh.e_shoff, sizeof sh);
    phnum = sh.sh_info;
  }
  if (eh.e_phentsize < sizeof(Elf64_Phdr)) return false;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::uint64_t off = eh.e_phoff + i * eh.e_phentsize;
    if (off > size || size - off < sizeof(Elf64_Phdr)) break;
    Elf64_Phdr ph;
    std::memcpy(&ph, data + off, sizeof ph);
    if (ph.p_type == PT_LOAD && ph.p_memsz != 0 &&
        (ph.p_paddr > (1ULL << 32) || ph.p_memsz > (1ULL << 32) ||
         ph.p_paddr + ph.p_memsz > (1ULL << 32))) {
      return true;
    }
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (describes_huge_memory(data, size)) return 0;
  fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  auto src = open_elf_core(file.path());
  if (!src) return 0;
  (void)(*src)->shared_zero_pages();
  fuzz::read_some_pages(**src, 64);
  return 0;
}
