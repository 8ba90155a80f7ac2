#include "elf_core_builder.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <utility>

namespace guestdump::test {
namespace {

static_assert(std::endian::native == std::endian::little, "builder writes host-order structs");

struct Elf64Types {
  using Ehdr = Elf64_Ehdr;
  using Phdr = Elf64_Phdr;
  using Shdr = Elf64_Shdr;
  static constexpr unsigned char elf_class = ELFCLASS64;
};

struct Elf32Types {
  using Ehdr = Elf32_Ehdr;
  using Phdr = Elf32_Phdr;
  using Shdr = Elf32_Shdr;
  static constexpr unsigned char elf_class = ELFCLASS32;
};

std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
  return alignment <= 1 ? value : (value + alignment - 1) / alignment * alignment;
}

void append_padded(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), bytes, bytes + size);
  out.resize(align_up(out.size(), 4), 0);
}

std::vector<std::uint8_t> serialize_notes(const std::vector<ElfNote>& notes) {
  std::vector<std::uint8_t> blob;
  for (const ElfNote& note : notes) {
    // Elf32_Nhdr and Elf64_Nhdr are the same three 32-bit words.
    const Elf64_Nhdr header{static_cast<Elf64_Word>(note.name.size() + 1),
                            static_cast<Elf64_Word>(note.desc.size()), note.type};
    append_padded(blob, &header, sizeof header);
    append_padded(blob, note.name.c_str(), note.name.size() + 1);
    append_padded(blob, note.desc.data(), note.desc.size());
  }
  return blob;
}

// Narrows to the field type of the ELF class in use; ELF32 cores cannot describe > 4 GiB.
template <class Field> Field narrow(std::uint64_t value, const char* what) {
  if (value > std::numeric_limits<Field>::max()) {
    throw std::invalid_argument(std::string("ELF32 core: ") + what + " does not fit in 32 bits");
  }
  return static_cast<Field>(value);
}

template <class T>
void store(std::vector<std::uint8_t>& out, std::uint64_t offset, const T& value) {
  std::memcpy(out.data() + offset, &value, sizeof value);
}

template <class Types> std::vector<std::uint8_t> build(const ElfCoreSpec& spec) {
  using Ehdr = typename Types::Ehdr;
  using Phdr = typename Types::Phdr;
  using Shdr = typename Types::Shdr;
  using Addr = decltype(Phdr{}.p_paddr);
  using Size = decltype(Phdr{}.p_filesz);
  using Off = decltype(Phdr{}.p_offset);

  const std::uint64_t phnum = 1 + spec.loads.size();
  const bool xnum = spec.use_pn_xnum || phnum >= PN_XNUM;
  const bool has_shdr = xnum || spec.phdrs_after_section_header;
  if (phnum > std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("too many program headers for sh_info");
  }

  std::uint64_t pos = sizeof(Ehdr);
  std::uint64_t shoff = 0;
  if (spec.phdrs_after_section_header) {
    shoff = pos;
    pos += sizeof(Shdr);
  }
  const std::uint64_t phoff = pos;
  pos += phnum * sizeof(Phdr);
  if (has_shdr && !spec.phdrs_after_section_header) {
    shoff = pos;
    pos += sizeof(Shdr);
  }
  const std::vector<std::uint8_t> notes = serialize_notes(spec.notes);
  const std::uint64_t notes_offset = pos;
  pos = align_up(pos + notes.size(), spec.data_alignment);
  std::vector<std::uint64_t> load_offsets;
  for (const ElfSegment& load : spec.loads) {
    if (load.data.size() > load.memsz) {
      throw std::invalid_argument("ElfSegment: data.size() exceeds memsz");
    }
    load_offsets.push_back(pos);
    pos += load.data.size();
  }

  std::vector<std::uint8_t> out(pos, 0);
  Ehdr ehdr{};
  std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
  ehdr.e_ident[EI_CLASS] = Types::elf_class;
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  ehdr.e_ident[EI_OSABI] = ELFOSABI_NONE;
  ehdr.e_type = ET_CORE;
  ehdr.e_machine = spec.machine;
  ehdr.e_version = EV_CURRENT;
  ehdr.e_phoff = narrow<Off>(phoff, "e_phoff");
  ehdr.e_shoff = narrow<Off>(shoff, "e_shoff");
  ehdr.e_ehsize = sizeof(Ehdr);
  ehdr.e_phentsize = sizeof(Phdr);
  ehdr.e_phnum = static_cast<std::uint16_t>(xnum ? PN_XNUM : phnum);
  ehdr.e_shentsize = has_shdr ? sizeof(Shdr) : 0;
  ehdr.e_shnum = has_shdr ? 1 : 0;
  ehdr.e_shstrndx = SHN_UNDEF;
  store(out, 0, ehdr);

  if (has_shdr) {
    Shdr shdr{}; // SHT_NULL; sh_info carries the real e_phnum under PN_XNUM
    shdr.sh_info = xnum ? static_cast<std::uint32_t>(phnum) : 0;
    store(out, shoff, shdr);
  }

  Phdr note_phdr{};
  note_phdr.p_type = PT_NOTE;
  note_phdr.p_offset = narrow<Off>(notes_offset, "PT_NOTE offset");
  note_phdr.p_filesz = note_phdr.p_memsz = static_cast<Size>(notes.size());
  store(out, phoff, note_phdr);
  if (!notes.empty()) std::memcpy(out.data() + notes_offset, notes.data(), notes.size());

  for (std::size_t i = 0; i < spec.loads.size(); ++i) {
    const ElfSegment& load = spec.loads[i];
    Phdr phdr{};
    phdr.p_type = PT_LOAD;
    phdr.p_offset = narrow<Off>(load_offsets[i], "PT_LOAD offset");
    phdr.p_vaddr = narrow<Addr>(load.vaddr, "p_vaddr");
    phdr.p_paddr = narrow<Addr>(load.paddr, "p_paddr");
    phdr.p_filesz = narrow<Size>(load.data.size(), "p_filesz");
    phdr.p_memsz = narrow<Size>(load.memsz, "p_memsz");
    narrow<Addr>(load.paddr + load.memsz - (load.memsz ? 1 : 0), "end of p_paddr range");
    store(out, phoff + (i + 1) * sizeof(Phdr), phdr);
    // A segment without file data has no buffer: memcpy from nullptr is undefined even for 0.
    if (!load.data.empty()) {
      std::memcpy(out.data() + load_offsets[i], load.data.data(), load.data.size());
    }
  }
  return out;
}

// splitmix64: tiny, well-distributed, and identical on every platform.
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace

std::vector<std::uint8_t> build_elf_core(const ElfCoreSpec& spec) {
  return spec.elf64 ? build<Elf64Types>(spec) : build<Elf32Types>(spec);
}

ElfNote make_vmcoreinfo_note(std::string_view text) {
  return ElfNote{"VMCOREINFO", 0, std::vector<std::uint8_t>(text.begin(), text.end())};
}

ElfNote make_prstatus_note(std::uint32_t pid, std::uint64_t rip) {
  constexpr std::size_t kPrstatusSize = 336, kPidOffset = 32, kRegsOffset = 112, kRipIndex = 16;
  std::vector<std::uint8_t> desc(kPrstatusSize, 0);
  std::memcpy(desc.data() + kPidOffset, &pid, sizeof pid);
  std::memcpy(desc.data() + kRegsOffset + kRipIndex * sizeof(std::uint64_t), &rip, sizeof rip);
  return ElfNote{"CORE", NT_PRSTATUS, std::move(desc)};
}

std::vector<std::uint8_t> make_page(std::uint64_t seed, std::size_t page_size, bool compressible) {
  std::vector<std::uint8_t> page(page_size);
  std::uint64_t state = seed * 2 + (compressible ? 1 : 0);
  if (!compressible) {
    for (std::size_t i = 0; i < page_size; i += 8) {
      const std::uint64_t word = next_random(state);
      std::memcpy(page.data() + i, &word, std::min<std::size_t>(8, page_size - i));
    }
  } else {
    // Runs of 8..71 bytes, each one of four letters: a few hundred bytes after zlib.
    static constexpr std::uint8_t kAlphabet[] = {'g', 'u', 'e', 's'};
    for (std::size_t i = 0; i < page_size;) {
      const std::uint64_t r = next_random(state);
      const std::size_t run = std::min<std::size_t>(8 + (r >> 8) % 64, page_size - i);
      std::memset(page.data() + i, kAlphabet[r & 3], run);
      i += run;
    }
  }
  if (page_size >= sizeof seed) std::memcpy(page.data(), &seed, sizeof seed); // page identity
  if (page_size > 0) page.back() |= 1; // never all zero, even for seed 0
  return page;
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) throw std::runtime_error("cannot write " + path);
}

} // namespace guestdump::test
