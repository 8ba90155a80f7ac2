#include "guestdump/formats/elf_notes.h"

#include <algorithm>
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

Result<std::vector<std::byte>> notes_without(std::span<const std::byte> blob, std::string_view name,
                                             std::initializer_list<std::uint32_t> types) {
  GUESTDUMP_TRY(auto parsed, parse_notes(blob));
  auto dropped = [&](const NoteView& n) {
    return n.name == name && std::find(types.begin(), types.end(), n.type) != types.end();
  };
  std::vector<std::byte> out;
  if (std::none_of(parsed.begin(), parsed.end(), dropped)) {
    std::uint64_t used = 0;
    for (const NoteView& n : parsed) used = n.desc_offset + align4(n.desc.size());
    out.assign(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(
                                                std::min<std::uint64_t>(used, blob.size())));
    out.resize(used, std::byte{0}); // a last descriptor whose padding the blob cut off
    return out;
  }
  for (const NoteView& n : parsed) {
    if (!dropped(n)) append_note(out, n.name, n.type, n.desc);
  }
  return out;
}

namespace {
template <typename T> void put(std::vector<std::byte>& d, std::size_t off, T v) {
  std::memcpy(d.data() + off, &v, sizeof v);
}
} // namespace

std::vector<std::byte> prstatus_desc(const X86_64CpuRegs& c, std::uint32_t pid) {
  std::vector<std::byte> d(kPrstatusSize, std::byte{0});
  put<std::uint32_t>(d, 32, pid); // pr_pid
  const auto& g = c.gpr;
  const auto sel = [&](std::size_t i) { return std::uint64_t{c.seg[i].selector}; };
  // r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss
  // fs_base gs_base ds es fs gs
  const std::uint64_t regs[] = {
      g[15],    g[14], g[13],  g[12],         g[6],          g[1],   g[11],      g[10],  g[9],
      g[8],     g[0],  g[2],   g[3],          g[4],          g[5],   c.orig_rax, c.rip,  sel(0),
      c.rflags, g[7],  sel(5), c.seg[3].base, c.seg[4].base, sel(1), sel(2),     sel(3), sel(4)};
  std::size_t o = 112;
  for (std::uint64_t r : regs) {
    put<std::uint64_t>(d, o, r);
    o += 8;
  }
  return d;
}

std::vector<std::byte> qemu_cpu_state_desc(const X86_64CpuRegs& c) {
  std::vector<std::byte> d(kQemuCpuStateSize, std::byte{0});
  put<std::uint32_t>(d, 0, 1); // version
  put<std::uint32_t>(d, 4, static_cast<std::uint32_t>(kQemuCpuStateSize));
  const auto& g = c.gpr;
  // rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
  const std::uint64_t regs[] = {g[0], g[1],  g[2],  g[3],  g[4],  g[5],  g[7],  g[6],  g[8],
                                g[9], g[10], g[11], g[12], g[13], g[14], g[15], c.rip, c.rflags};
  std::size_t o = 8;
  for (std::uint64_t r : regs) {
    put<std::uint64_t>(d, o, r);
    o += 8;
  }
  for (const auto& s : c.seg) { // {selector, limit, flags, pad, base}
    put<std::uint32_t>(d, o, s.selector);
    put<std::uint32_t>(d, o + 4, s.limit);
    put<std::uint32_t>(d, o + 8, s.flags);
    put<std::uint64_t>(d, o + 16, s.base);
    o += 24;
  }
  for (std::uint64_t cr : c.cr) {
    put<std::uint64_t>(d, o, cr);
    o += 8;
  }
  return d;
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
