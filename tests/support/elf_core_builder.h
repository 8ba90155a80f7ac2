#pragma once
// Synthetic ELF core files (the shape of QEMU dump-guest-memory and /proc/vmcore output) for
// unit tests of the ELF reader. Little-endian only; ELF64 or ELF32.
//
// File layout: Ehdr | [Shdr 0, QEMU >= 7.2 layout] | PT_NOTE + PT_LOAD phdrs |
//              [Shdr 0, PN_XNUM in the pre-7.2 layout] | notes | pad to data_alignment |
//              PT_LOAD data, back to back in spec order.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <elf.h>

namespace guestdump::test {

struct ElfNote {
  std::string name; // written with a terminating NUL (n_namesz = size + 1), padded to 4
  std::uint32_t type = 0;
  std::vector<std::uint8_t> desc; // padded to 4
};

struct ElfSegment {
  std::uint64_t paddr = 0;
  std::uint64_t vaddr = 0;
  std::uint64_t memsz = 0;
  std::vector<std::uint8_t> data; // p_filesz = data.size(), must be <= memsz
};

struct ElfCoreSpec {
  bool elf64 = true;
  bool phdrs_after_section_header = false; // QEMU >= 7.2: one Shdr at offset Ehdr size
  bool use_pn_xnum = false; // e_phnum = PN_XNUM, count in Shdr 0 sh_info (forced at >= 0xffff)
  std::uint16_t machine = EM_X86_64;   // EM_386 for 32-bit guests
  std::vector<ElfNote> notes;          // all in one PT_NOTE, which is always phdr 0
  std::vector<ElfSegment> loads;       // PT_LOADs in this order
  std::uint64_t data_alignment = 4096; // file alignment of the first PT_LOAD (0/1 = packed)
};

/// Serializes `spec`. Throws std::invalid_argument if a segment has data.size() > memsz or an
/// ELF32 value does not fit in 32 bits.
std::vector<std::uint8_t> build_elf_core(const ElfCoreSpec& spec);

/// Note named "VMCOREINFO", type 0, descriptor = `text` (no NUL added).
ElfNote make_vmcoreinfo_note(std::string_view text);

/// "CORE"/NT_PRSTATUS note with an x86_64 elf_prstatus (336 bytes): pr_pid at +32, pr_reg
/// (27 x u64, user_regs_struct order) at +112 with rip (index 16) set, everything else zero.
ElfNote make_prstatus_note(std::uint32_t pid, std::uint64_t rip);

/// Deterministic page for `seed`. Compressible pages are runs drawn from a tiny alphabet (zlib
/// shrinks them a lot); incompressible pages are pseudo-random bytes. Never all zero.
std::vector<std::uint8_t> make_page(std::uint64_t seed, std::size_t page_size, bool compressible);

/// Writes `bytes` to `path` (truncating). Throws std::runtime_error on failure.
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

} // namespace guestdump::test
