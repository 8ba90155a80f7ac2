// Xen xc_core reader (`xl dump-core`, libvirt's libxl core dump); see xen_core.h.
// Layout facts: shared/docs/reference/xen-and-vmcoreinfo.md §1. Sections are found by name
// (libxc says the order is not part of the format); the index arrays are ascending by
// construction, which is checked rather than trusted.

#include "guestdump/formats/xen_core.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include <gelf.h>

#include "elf_handles.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/formats/limits.h"

namespace guestdump::formats {
namespace {

constexpr std::uint32_t kNoteNone = 0x2000000;
constexpr std::uint32_t kNoteHeader = 0x2000001;
constexpr std::uint32_t kNoteXenVersion = 0x2000002;
constexpr std::uint32_t kNoteFormatVersion = 0x2000003;
constexpr std::uint64_t kMagicPv = 0xF00FEBED;
constexpr std::uint64_t kMagicHvm = 0xF00FEBEE;
constexpr std::uint64_t kInvalid = ~std::uint64_t{0};
constexpr std::uint64_t kPageSize = 4096;
// x86 physical addresses have at most 52 bits.
constexpr std::uint64_t kMaxPfn = 1ULL << 40;
// Bounds for the small sections we read whole.
constexpr std::uint64_t kMaxNoteSection = 1 << 20;
constexpr std::uint64_t kMaxVcpus = 4096;

// vcpu_guest_context offsets (x86_64 Xen public ABI).
constexpr std::size_t kOffFlags = 512;
constexpr std::size_t kOffGprs = 520;
constexpr std::size_t kOffRip = 648;
constexpr std::size_t kOffCs = 656;
constexpr std::size_t kOffRflags = 664;
constexpr std::size_t kOffRsp = 672;
constexpr std::size_t kOffSs = 680;
constexpr std::size_t kOffEs = 688;
constexpr std::size_t kOffDs = 696;
constexpr std::size_t kOffFs = 704;
constexpr std::size_t kOffGs = 712;
constexpr std::size_t kOffCtrlreg = 4984;
constexpr std::size_t kOffFsBase = 5144;
constexpr std::size_t kOffGsBaseKernel = 5152;
constexpr std::size_t kOffGsBaseUser = 5160;

template <typename T> T load(std::span<const std::byte> b, std::size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

Error bad(std::string msg) {
  return make_error(ErrorCode::kBadData, std::move(msg));
}

struct Section {
  bool found = false;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// One stored page: guest PFN and its position in .xen_pages.
struct Entry {
  std::uint64_t pfn;
  std::uint64_t index;
};

class XenCoreSource final : public DumpSource {
public:
  XenCoreSource(MappedFile file, DumpMetadata meta, std::vector<Entry> entries,
                std::uint64_t pages_offset, std::uint64_t pages_count)
      : file_(std::move(file)), meta_(std::move(meta)), entries_(std::move(entries)),
        pages_offset_(pages_offset), pages_count_(pages_count) {}
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override;

  const MappedFile& file() const { return file_; }
  const std::vector<Entry>& entries() const { return entries_; }
  std::uint64_t pages_offset() const { return pages_offset_; }
  std::uint64_t pages_count() const { return pages_count_; }

private:
  MappedFile file_;
  DumpMetadata meta_;
  std::vector<Entry> entries_; // sorted by PFN, unique
  std::uint64_t pages_offset_;
  std::uint64_t pages_count_; // pages of .xen_pages inside the file
};

// Reads .xen_pages with pread() into a window of up to 64 consecutive pages: the index is
// ascending, so workers walking their chunk in PFN order read the section front to back.
class XenPageReader final : public PageReader {
public:
  explicit XenPageReader(const XenCoreSource& src)
      : src_(src), window_(std::make_unique<std::byte[]>(kWindowPages * kPageSize)) {}

  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> /*scratch*/) override {
    const auto& e = src_.entries();
    std::size_t pos = 0;
    if (next_ < e.size() && e[next_].pfn == pfn) {
      pos = next_;
    } else {
      auto it = std::lower_bound(e.begin(), e.end(), pfn,
                                 [](const Entry& a, std::uint64_t p) { return a.pfn < p; });
      if (it == e.end() || it->pfn != pfn) {
        return make_error(ErrorCode::kNotFound, "page " + hex(pfn) + " is not in the dump");
      }
      pos = static_cast<std::size_t>(it - e.begin());
    }
    next_ = pos + 1;
    const std::uint64_t idx = e[pos].index;
    if (idx >= win_first_ && idx < win_first_ + win_count_) {
      return window_.get() + (idx - win_first_) * kPageSize;
    }
    const std::uint64_t n = std::min<std::uint64_t>(kWindowPages, src_.pages_count() - idx);
    auto r = pread_exact(src_.file().fd(), std::span(window_.get(), n * kPageSize),
                         src_.pages_offset() + idx * kPageSize, src_.metadata().path);
    if (!r) {
      win_count_ = 0;
      Error err = std::move(r).error();
      return std::move(err).context("page " + hex(pfn));
    }
    win_first_ = idx;
    win_count_ = n;
    return window_.get();
  }

private:
  static constexpr std::uint64_t kWindowPages = 64;
  const XenCoreSource& src_;
  std::unique_ptr<std::byte[]> window_;
  std::uint64_t win_first_ = 0;
  std::uint64_t win_count_ = 0;
  std::size_t next_ = 0;
};

std::unique_ptr<PageReader> XenCoreSource::make_reader() const {
  return std::make_unique<XenPageReader>(*this);
}

struct HeaderNote {
  std::uint64_t magic = 0;
  std::uint64_t nr_vcpus = 0;
  std::uint64_t nr_pages = 0;
  std::uint64_t page_size = 0;
};

struct XenNotes {
  HeaderNote header;
  std::string xen_version; // "4.17" when the version note is readable
};

Result<XenNotes> parse_xen_notes(std::span<const std::byte> blob) {
  GUESTDUMP_TRY(auto notes, parse_notes(blob));
  XenNotes out;
  bool have_header = false, have_format = false, have_none = false;
  for (const NoteView& n : notes) {
    if (n.name != "Xen") continue;
    switch (n.type) {
    case kNoteNone:
      have_none = true;
      break;
    case kNoteHeader:
      if (have_header) return bad("'.note.Xen' has two header notes");
      if (n.desc.size() != 32) {
        return bad("'.note.Xen' header note has " + std::to_string(n.desc.size()) +
                   " bytes, not 32");
      }
      out.header = {load<std::uint64_t>(n.desc, 0), load<std::uint64_t>(n.desc, 8),
                    load<std::uint64_t>(n.desc, 16), load<std::uint64_t>(n.desc, 24)};
      have_header = true;
      break;
    case kNoteFormatVersion: {
      if (n.desc.size() != 8) return bad("'.note.Xen' format version note is not 8 bytes");
      const auto v = load<std::uint64_t>(n.desc, 0);
      if (v != 1) {
        return make_error(ErrorCode::kUnsupported,
                          "xc_core format version " + std::to_string(v >> 32) + "." +
                              std::to_string(v & 0xffffffff) + " is not supported (only 0.1)");
      }
      have_format = true;
      break;
    }
    case kNoteXenVersion:
      // major and minor as u64 at 0 and 8: informational only.
      if (n.desc.size() >= 16) {
        out.xen_version = std::to_string(load<std::uint64_t>(n.desc, 0)) + "." +
                          std::to_string(load<std::uint64_t>(n.desc, 8));
      }
      break;
    default:
      break;
    }
  }
  if (!have_none && !have_header) return bad("not a Xen dump-core file ('.note.Xen' has no notes)");
  if (!have_header) return bad("'.note.Xen' has no dump-core header note");
  if (!have_format) return bad("'.note.Xen' has no format version note");
  return out;
}

std::string describe(const Section& s, const char* name) {
  return std::string("section '") + name + "' (offset " + std::to_string(s.offset) + ", " +
         std::to_string(s.size) + " bytes)";
}

} // namespace

XenVcpuState parse_xen_vcpu_context(std::span<const std::byte> rec) {
  XenVcpuState v;
  for (std::size_t i = 0; i < v.gprs.size(); ++i)
    v.gprs[i] = load<std::uint64_t>(rec, kOffGprs + 8 * i);
  v.rip = load<std::uint64_t>(rec, kOffRip);
  v.cs = load<std::uint16_t>(rec, kOffCs);
  v.rflags = load<std::uint64_t>(rec, kOffRflags);
  v.rsp = load<std::uint64_t>(rec, kOffRsp);
  v.ss = load<std::uint16_t>(rec, kOffSs);
  v.es = load<std::uint16_t>(rec, kOffEs);
  v.ds = load<std::uint16_t>(rec, kOffDs);
  v.fs = load<std::uint16_t>(rec, kOffFs);
  v.gs = load<std::uint16_t>(rec, kOffGs);
  for (std::size_t i = 0; i < v.cr.size(); ++i)
    v.cr[i] = load<std::uint64_t>(rec, kOffCtrlreg + 8 * i);
  v.fs_base = load<std::uint64_t>(rec, kOffFsBase);
  v.gs_base_kernel = load<std::uint64_t>(rec, kOffGsBaseKernel);
  v.gs_base_user = load<std::uint64_t>(rec, kOffGsBaseUser);
  v.flags = load<std::uint64_t>(rec, kOffFlags);
  return v;
}

X86_64CpuRegs xen_cpu_regs(const XenVcpuState& v) {
  X86_64CpuRegs c;
  // Xen's order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi.
  const auto& g = v.gprs;
  c.gpr = {g[10], g[5], g[11], g[12], g[13], g[14], g[4], v.rsp,
           g[9],  g[8], g[7],  g[6],  g[3],  g[2],  g[1], g[0]};
  c.rip = v.rip;
  c.rflags = v.rflags;
  c.orig_rax = kInvalid; // no system call in progress
  // With paging and PAE on, an x86_64 guest runs in long mode: CS gets QEMU's present, code,
  // long-mode bits (P, S, type 0xb, L) and its DPL.
  const bool long_mode = (v.cr[0] & (1u << 31)) != 0 && (v.cr[4] & (1u << 5)) != 0;
  const std::uint32_t cs_flags =
      long_mode ? (1u << 15) | (1u << 12) | (0xbu << 8) | (1u << 21) | ((v.cs & 3u) << 13) : 0;
  const std::uint64_t gs_base = (v.cs & 3) == 0 ? v.gs_base_kernel : v.gs_base_user;
  c.seg[0] = {v.cs, 0, cs_flags, 0};
  c.seg[1].selector = v.ds;
  c.seg[2].selector = v.es;
  c.seg[3] = {v.fs, 0, 0, v.fs_base};
  c.seg[4] = {v.gs, 0, 0, gs_base};
  c.seg[5].selector = v.ss;
  c.cr = v.cr;
  return c;
}

bool looks_like_xen_core(std::span<const std::byte> head) {
  if (head.size() < sizeof(Elf64_Ehdr) || std::memcmp(head.data(), ELFMAG, SELFMAG) != 0) {
    return false;
  }
  if (static_cast<unsigned char>(head[EI_CLASS]) != ELFCLASS64) return false;
  Elf64_Ehdr eh;
  std::memcpy(&eh, head.data(), sizeof eh);
  return eh.e_type == ET_CORE && eh.e_phnum == 0 && eh.e_shnum != 0 && eh.e_shoff != 0;
}

Result<std::unique_ptr<DumpSource>> open_xen_core(const std::string& path) {
  GUESTDUMP_TRY(MappedFile file, MappedFile::open(path));
  const auto bytes = file.bytes();
  const std::uint64_t file_size = bytes.size();
  if (!looks_like_xen_core(bytes)) {
    return bad("not a Xen dump-core file (no ELF64 core with section headers only)");
  }
  if (static_cast<unsigned char>(bytes[EI_DATA]) != ELFDATA2LSB) {
    return make_error(ErrorCode::kUnsupported, "big-endian xc_core files are not supported");
  }
  if (elf_version(EV_CURRENT) == EV_NONE) return detail::elf_error("libelf");
  // libelf parses the section headers in place; section data is located and checked by us.
  detail::UniqueElf elf(
      elf_memory(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())), bytes.size()));
  if (!elf) return detail::elf_error("ELF header");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) return detail::elf_error("ELF header");
  if (ehdr.e_machine == EM_386) {
    return make_error(ErrorCode::kUnsupported, "xc_core of a 32-bit PV guest is not supported");
  }
  if (ehdr.e_machine != EM_X86_64) {
    return make_error(ErrorCode::kUnsupported,
                      "xc_core machine " + std::to_string(ehdr.e_machine) + " is not supported");
  }
  std::size_t shstrndx = 0, shnum = 0;
  if (elf_getshdrstrndx(elf.get(), &shstrndx) != 0) return detail::elf_error("section names");
  if (elf_getshdrnum(elf.get(), &shnum) != 0) return detail::elf_error("section headers");
  // libxc writes the section names last: a truncated dump loses them first, and libelf would
  // only say "invalid section header".
  if (Elf_Scn* names = elf_getscn(elf.get(), shstrndx); names != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(names, &sh) != nullptr &&
        (sh.sh_offset > file_size || sh.sh_size > file_size - sh.sh_offset)) {
      return bad("section name table (offset " + std::to_string(sh.sh_offset) + ", " +
                 std::to_string(sh.sh_size) + " bytes) runs past the end of the file (" +
                 std::to_string(file_size) + " bytes): truncated dump?");
    }
  }

  Section notes_s, prstatus_s, pages_s, pfn_s, p2m_s;
  struct Wanted {
    const char* name;
    Section* sec;
  };
  const Wanted wanted[] = {{".note.Xen", &notes_s},
                           {".xen_prstatus", &prstatus_s},
                           {".xen_pages", &pages_s},
                           {".xen_pfn", &pfn_s},
                           {".xen_p2m", &p2m_s}};
  for (std::size_t i = 1; i < shnum; ++i) {
    Elf_Scn* scn = elf_getscn(elf.get(), i);
    GElf_Shdr sh;
    if (scn == nullptr || gelf_getshdr(scn, &sh) == nullptr) {
      return detail::elf_error("section header " + std::to_string(i));
    }
    const char* name = elf_strptr(elf.get(), shstrndx, sh.sh_name);
    if (name == nullptr) return detail::elf_error("name of section " + std::to_string(i));
    for (const Wanted& w : wanted) {
      if (std::strcmp(name, w.name) != 0) continue;
      if (w.sec->found) return bad(std::string("two '") + w.name + "' sections");
      w.sec->found = true;
      w.sec->offset = sh.sh_offset;
      w.sec->size = sh.sh_type == SHT_NOBITS ? 0 : sh.sh_size;
      if (w.sec->offset > file_size || w.sec->size > file_size - w.sec->offset) {
        return bad(describe(*w.sec, w.name) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes): truncated dump?");
      }
    }
  }
  if (!notes_s.found) return bad("not a Xen dump-core file (no '.note.Xen' section)");
  if (!pages_s.found) return bad("xc_core file has no '.xen_pages' section");
  if (!prstatus_s.found) return bad("xc_core file has no '.xen_prstatus' section");
  if (pfn_s.found == p2m_s.found) {
    return bad(pfn_s.found ? "xc_core file has both '.xen_pfn' and '.xen_p2m'"
                           : "xc_core file has neither '.xen_pfn' nor '.xen_p2m'");
  }
  if (notes_s.size > kMaxNoteSection) return bad(describe(notes_s, ".note.Xen") + " is too big");
  GUESTDUMP_TRY(XenNotes xn, parse_xen_notes(bytes.subspan(notes_s.offset, notes_s.size)));
  const HeaderNote& hn = xn.header;
  const bool hvm = hn.magic == kMagicHvm;
  if (!hvm && hn.magic != kMagicPv) {
    return bad("'.note.Xen' header magic " + hex(hn.magic) + " is neither PV nor HVM");
  }
  if (hn.page_size != kPageSize) {
    return make_error(ErrorCode::kUnsupported,
                      "xc_core page size " + std::to_string(hn.page_size) + " is not supported");
  }
  if (hvm && p2m_s.found) return bad("HVM header note but a PV '.xen_p2m' index");

  // vCPUs: the header note and the section must agree (libxc writes both from one count).
  if (prstatus_s.size % kXenVcpuContextSize != 0) {
    return bad(describe(prstatus_s, ".xen_prstatus") + " is not a whole number of " +
               std::to_string(kXenVcpuContextSize) + "-byte vCPU contexts");
  }
  const std::uint64_t nr_ctx = prstatus_s.size / kXenVcpuContextSize;
  if (hn.nr_vcpus != nr_ctx) {
    return bad("'.note.Xen' header says " + std::to_string(hn.nr_vcpus) + " vCPUs but '" +
               ".xen_prstatus' holds " + std::to_string(nr_ctx));
  }
  if (nr_ctx > kMaxVcpus) return bad(std::to_string(nr_ctx) + " vCPUs is beyond any Xen guest");

  // Pages and index.
  const Section& idx_s = pfn_s.found ? pfn_s : p2m_s;
  const char* idx_name = pfn_s.found ? ".xen_pfn" : ".xen_p2m";
  const std::uint64_t entsize = pfn_s.found ? 8 : 16;
  if (pages_s.size % kPageSize != 0) {
    return bad(describe(pages_s, ".xen_pages") + " is not a whole number of pages");
  }
  if (idx_s.size % entsize != 0) {
    return bad(describe(idx_s, idx_name) + " is not a whole number of " + std::to_string(entsize) +
               "-byte entries");
  }
  const std::uint64_t nr_stored = pages_s.size / kPageSize;
  std::uint64_t count = idx_s.size / entsize;
  if (count > nr_stored) {
    return bad(std::string("'") + idx_name + "' has " + std::to_string(count) +
               " entries but '.xen_pages' holds only " + std::to_string(nr_stored) + " pages");
  }
  if (hn.nr_pages > file_size / kPageSize) {
    return bad("'.note.Xen' header claims " + std::to_string(hn.nr_pages) +
               " pages, more than the file (" + std::to_string(file_size) + " bytes) can hold");
  }
  if (count != nr_stored || hn.nr_pages != count) {
    // libxc writes all three from one count; a live dump only pads with ~0 entries. Trust
    // no more than every one of them covers.
    const std::uint64_t use = std::min({count, nr_stored, hn.nr_pages});
    GUESTDUMP_LOG(kWarn, "xen") << "'" << path << "': header note says " << hn.nr_pages
                                << " pages, '" << idx_name << "' has " << count
                                << " entries, '.xen_pages' " << nr_stored << " pages; using "
                                << use;
    count = use;
  }

  std::vector<Entry> entries;
  entries.reserve(count);
  // PV: {gmfn, pfn} of every stored page, for the page-table walks (MachineFrameMap).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> m2p;
  if (!hvm) m2p.reserve(count);
  bool sorted = true;
  std::uint64_t skipped = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t pfn = load<std::uint64_t>(bytes, idx_s.offset + i * entsize);
    if (pfn == kInvalid) {
      ++skipped;
      continue;
    }
    if (pfn >= kMaxPfn) {
      return bad(std::string("'") + idx_name + "' entry " + std::to_string(i) + ": PFN " +
                 hex(pfn) + " lies beyond the 52-bit physical address space");
    }
    if (!entries.empty() && pfn <= entries.back().pfn) sorted = false;
    entries.push_back({pfn, i});
    if (!hvm) {
      const std::uint64_t gmfn = load<std::uint64_t>(bytes, idx_s.offset + i * entsize + 8);
      m2p.emplace_back(gmfn, pfn);
    }
  }
  if (entries.empty()) return bad(std::string("'") + idx_name + "' lists no pages");
  if (!sorted) {
    // The format says ascending; sort rather than refuse, but a PFN stored twice is a lie.
    GUESTDUMP_LOG(kDebug, "xen") << "'" << path << "': '" << idx_name << "' is not ascending";
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.pfn < b.pfn; });
  }
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].pfn == entries[i - 1].pfn) {
      return bad(std::string("'") + idx_name + "' lists PFN " + hex(entries[i].pfn) + " twice");
    }
  }
  std::shared_ptr<const MachineFrameMap> machine_frames;
  if (!hvm) {
    // The MFNs come from the guest's own p2m list: a frame beyond the machine address space,
    // or one claimed by two PFNs (a walk through it would be ambiguous), is left out of the
    // map, so walks through it fail; the page itself is still in the dump.
    std::sort(m2p.begin(), m2p.end());
    std::vector<std::pair<std::uint64_t, std::uint64_t>> usable;
    usable.reserve(m2p.size());
    for (std::size_t i = 0; i < m2p.size(); ++i) {
      const std::uint64_t mfn = m2p[i].first;
      const bool dup =
          (i > 0 && m2p[i - 1].first == mfn) || (i + 1 < m2p.size() && m2p[i + 1].first == mfn);
      if (mfn < kMaxPfn && !dup) usable.push_back(m2p[i]);
    }
    if (usable.size() != m2p.size()) {
      GUESTDUMP_LOG(kWarn, "xen") << "'" << path << "': " << m2p.size() - usable.size()
                                  << " '.xen_p2m' entries name an impossible or shared machine "
                                  << "frame; page-table walks through them fail";
    }
    machine_frames = std::make_shared<MachineFrameMap>(std::move(usable));
  }
  DumpMetadata meta;
  meta.path = path;
  meta.arch = KdumpArch::kX86_64;
  meta.page_size = kPageSize;
  meta.max_pfn = entries.back().pfn + 1;
  if (meta.max_pfn > entries.size() + kMaxPfnHoles) {
    return bad(std::string("'") + idx_name + "' lists PFN " + hex(entries.back().pfn) +
               ", far beyond the " + std::to_string(entries.size()) + " pages stored");
  }
  meta.ram = PfnBitmap(meta.max_pfn);
  for (const Entry& e : entries) meta.ram.set(e.pfn);
  meta.available = meta.ram;
  meta.format = hvm ? "xc_core (HVM)" : "xc_core (PV)";
  if (!xn.xen_version.empty()) meta.format += ", Xen " + xn.xen_version;
  if (skipped != 0) {
    GUESTDUMP_LOG(kDebug, "xen") << "'" << path << "': " << skipped << " unused index entries";
  }

  // CPU state: a Linux CORE note per online vCPU (pr_pid = index + 1, as QEMU numbers them);
  // for HVM/PVH also a QEMU note carrying CR3, which is guest-physical there. PV CR3 is a
  // machine address that no reader of the output could use.
  std::vector<XenVcpuState> vcpus;
  for (std::uint64_t i = 0; i < nr_ctx; ++i) {
    vcpus.push_back(parse_xen_vcpu_context(
        bytes.subspan(prstatus_s.offset + i * kXenVcpuContextSize, kXenVcpuContextSize)));
  }
  const bool any_online = std::any_of(vcpus.begin(), vcpus.end(), [](const XenVcpuState& v) {
    return (v.flags & kXenVcpuOnline) != 0;
  });
  std::vector<const XenVcpuState*> kept;
  for (const XenVcpuState& v : vcpus) {
    if (!any_online || (v.flags & kXenVcpuOnline) != 0) kept.push_back(&v);
  }
  for (std::size_t i = 0; i < kept.size(); ++i) {
    auto pr = prstatus_desc(xen_cpu_regs(*kept[i]), static_cast<std::uint32_t>(i + 1));
    append_note(meta.notes, "CORE", kNtPrstatus, pr);
  }
  if (hvm) {
    for (const XenVcpuState* v : kept) {
      append_note(meta.notes, "QEMU", 0, qemu_cpu_state_desc(xen_cpu_regs(*v)));
    }
  }
  meta.nr_cpus = static_cast<int>(kept.size());
  // PV: pages are indexed by pseudo-physical frame, the page tables hold machine frames.
  meta.machine_frames = std::move(machine_frames);
  const std::uint64_t pages_offset = pages_s.offset;
  return std::unique_ptr<DumpSource>(
      new XenCoreSource(std::move(file), std::move(meta), std::move(entries), pages_offset, count));
}

} // namespace guestdump::formats
