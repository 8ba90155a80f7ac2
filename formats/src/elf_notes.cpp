#include "guestdump/formats/elf_notes.h"

#include <cstring>
#include <string>

#include "guestdump/formats/vmcoreinfo.h"

namespace guestdump::formats {
namespace {
std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
constexpr std::uint64_t align4(std::uint64_t v) {
  return (v + 3) & ~std::uint64_t{3};
}
} // namespace

Result<std::vector<NoteView>> parse_notes(std::span<const std::byte> blob) {
  std::vector<NoteView> notes;
  std::uint64_t pos = 0;
  while (pos + 12 <= blob.size()) {
    std::uint32_t namesz = load_u32(blob.data() + pos);
    std::uint32_t descsz = load_u32(blob.data() + pos + 4);
    std::uint32_t type = load_u32(blob.data() + pos + 8);
    if (namesz == 0 && descsz == 0 && type == 0) break; // zero padding
    std::uint64_t name_off = pos + 12;
    std::uint64_t desc_off = name_off + align4(namesz);
    std::uint64_t end = desc_off + align4(descsz);
    if (desc_off + descsz > blob.size()) {
      return make_error(ErrorCode::kBadData, "note at offset " + std::to_string(pos) +
                                                 " runs past the end of the notes (" +
                                                 std::to_string(blob.size()) + " bytes)");
    }
    NoteView n;
    const char* name = reinterpret_cast<const char*>(blob.data() + name_off);
    std::size_t len = namesz;
    while (len > 0 && name[len - 1] == '\0') --len;
    n.name = std::string_view(name, len);
    n.type = type;
    n.desc = blob.subspan(desc_off, descsz);
    n.desc_offset = desc_off;
    notes.push_back(n);
    pos = end;
  }
  return notes;
}

void append_note(std::vector<std::byte>& blob, std::string_view name, std::uint32_t type,
                 std::span<const std::byte> desc) {
  std::uint32_t hdr[3] = {static_cast<std::uint32_t>(name.size() + 1),
                          static_cast<std::uint32_t>(desc.size()), type};
  auto* h = reinterpret_cast<const std::byte*>(hdr);
  blob.insert(blob.end(), h, h + 12);
  auto* nm = reinterpret_cast<const std::byte*>(name.data());
  blob.insert(blob.end(), nm, nm + name.size());
  blob.resize(align4(blob.size() + 1), std::byte{0});
  blob.insert(blob.end(), desc.begin(), desc.end());
  blob.resize(align4(blob.size()), std::byte{0});
}

int count_prstatus(const std::vector<NoteView>& notes) {
  int n = 0;
  for (const auto& note : notes) {
    if (note.name == "CORE" && note.type == kNtPrstatus) ++n;
  }
  return n;
}

const NoteView* find_vmcoreinfo(const std::vector<NoteView>& notes) {
  for (const auto& note : notes) {
    if (note.name == "VMCOREINFO") return &note;
  }
  return nullptr;
}

namespace {

constexpr std::size_t kPrstatusX86_64 = 336; // struct elf_prstatus, 27 x 8-byte registers
constexpr std::size_t kPrstatusI386 = 144;   // 17 x 4-byte registers

std::optional<NotesArch> arch_from_prstatus(const std::vector<NoteView>& notes) {
  std::optional<NotesArch> found;
  for (const auto& n : notes) {
    if (n.name != "CORE" || n.type != kNtPrstatus) continue;
    std::optional<KdumpArch> a;
    if (n.desc.size() == kPrstatusX86_64) a = KdumpArch::kX86_64;
    if (n.desc.size() == kPrstatusI386) a = KdumpArch::kI386;
    // Another size is another architecture's (or a broken) note: it proves nothing we read.
    if (!a || (found && found->arch != *a)) return std::nullopt;
    found = NotesArch{*a, "NT_PRSTATUS notes of " + std::to_string(n.desc.size()) + " bytes"};
  }
  return found;
}

std::optional<NotesArch> arch_from_vmcoreinfo(const std::vector<NoteView>& notes) {
  const NoteView* vi_note = find_vmcoreinfo(notes);
  if (vi_note == nullptr) return std::nullopt;
  auto vi = VmcoreInfo::parse(
      std::string_view(reinterpret_cast<const char*>(vi_note->desc.data()), vi_note->desc.size()));
  // x86_64 kernels export their top-level page table under one of these names (init_level4_pgt
  // before 4.13); i386 kernels export neither.
  for (const char* sym : {"init_top_pgt", "init_level4_pgt"}) {
    if (vi.symbol(sym)) {
      return NotesArch{KdumpArch::kX86_64, std::string("VMCOREINFO SYMBOL(") + sym + ")"};
    }
  }
  return std::nullopt;
}

} // namespace

Result<std::optional<NotesArch>> arch_from_notes(const std::vector<NoteView>& notes) {
  auto regs = arch_from_prstatus(notes);
  auto vi = arch_from_vmcoreinfo(notes);
  if (regs && vi && regs->arch != vi->arch) {
    return make_error(ErrorCode::kBadData, "notes contradict each other: " + regs->evidence +
                                               " are " + std::string(machine_name(regs->arch)) +
                                               ", " + vi->evidence + " is " +
                                               std::string(machine_name(vi->arch)));
  }
  if (regs) return regs;
  return vi;
}

std::string dump_producer(const std::vector<NoteView>& notes,
                          const std::array<std::string, 6>& utsname) {
  bool qemu = false;
  for (const auto& n : notes) {
    if (n.name == "GUESTDUMP") return "guestdump"; // our filter record
    if (n.name == "QEMU") qemu = true;             // QEMU's per-CPU state
  }
  // makedumpfile copies the guest's utsname into its header (and a QEMU ELF dump's notes into
  // its output); QEMU's own kdump header has the machine only, an ELF core no header at all.
  if (utsname[0] == "Linux" && !utsname[2].empty()) return "makedumpfile or compatible";
  if (qemu) return "QEMU dump-guest-memory";
  return "";
}

} // namespace guestdump::formats
