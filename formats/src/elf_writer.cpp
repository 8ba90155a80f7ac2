#include "guestdump/formats/elf_writer.h"

#include <cstring>
#include <optional>
#include <vector>

#include <elf.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/codec.h"

namespace guestdump::formats {
namespace {

// One PT_LOAD: `file_pages` kept pages from `first_pfn`, then excluded RAM up to `mem_pages`.
struct Segment {
  std::uint64_t first_pfn = 0;
  std::uint64_t mem_pages = 0;
  std::uint64_t file_pages = 0;
};

std::vector<Segment> plan_segments(const PfnBitmap& ram, const PfnBitmap& dumpable) {
  std::vector<Segment> segs;
  const std::uint64_t n = ram.size();
  auto kept = [&](std::uint64_t p) { return dumpable.test(p); };
  for (std::uint64_t pfn = ram.next_set(0); pfn < n;) {
    std::uint64_t end = pfn;
    while (end < n && ram.test(end)) ++end;
    std::uint64_t p = pfn;
    while (p < end) {
      Segment s;
      s.first_pfn = p;
      while (p < end && kept(p)) ++p;
      s.file_pages = p - s.first_pfn;
      while (p < end && !kept(p)) ++p;
      s.mem_pages = p - s.first_pfn;
      segs.push_back(s);
    }
    pfn = end < n ? ram.next_set(end) : n;
  }
  return segs;
}

constexpr std::uint64_t kStartKernelMap = 0xffffffff80000000ULL; // __START_KERNEL_map
// makedumpfile -E keeps excluded runs shorter than this (PFN_EXCLUDED) as data; zero pages are
// treated the same way here, so small all-zero kernel structures (an unused part of the printk
// descriptor array, a fresh page table) stay readable for every reader.
constexpr std::uint64_t kMinZeroRun = 256;

// A PT_LOAD in the kernel image mapping (VA = __START_KERNEL_map + PA - phys_base), as
// /proc/vmcore has one: drgn reads the top-level page table through its kernel-image address and
// cannot walk any page table without it. It holds a copy of init_top_pgt's page (a copy, not
// shared file bytes: makedumpfile 1.7.2 crashes on PT_LOADs sharing file data).
struct Alias {
  std::size_t segment = 0; // the RAM segment whose data it shares
  std::uint64_t first_pfn = 0;
  std::uint64_t pages = 0;
  std::uint64_t vaddr = 0;
};

std::optional<Alias> kernel_image_alias(const DumpMetadata& meta, const std::vector<Segment>& segs,
                                        std::uint64_t ps) {
  if (!meta.vmcoreinfo) return std::nullopt;
  const VmcoreInfo& vi = *meta.vmcoreinfo;
  auto pgd = vi.symbol("init_top_pgt");
  if (!pgd) pgd = vi.symbol("swapper_pg_dir");
  if (!pgd || *pgd < kStartKernelMap) return std::nullopt;
  const std::int64_t phys_base = vi.number("phys_base").value_or(0);
  // KERNEL_IMAGE_SIZE is at most 1 GiB on x86_64; a larger or negative claim is ignored.
  const std::int64_t claimed = vi.number("KERNEL_IMAGE_SIZE").value_or(0);
  std::uint64_t image_size = std::uint64_t{1} << 30;
  if (claimed > 0 && claimed <= static_cast<std::int64_t>(image_size)) {
    image_size = static_cast<std::uint64_t>(claimed);
  } else if (claimed != 0) {
    GUESTDUMP_LOG(kWarn, "elf writer")
        << "'" << meta.path << "': ignored NUMBER(KERNEL_IMAGE_SIZE)=" << claimed << ": outside 1-"
        << image_size;
  }
  // PA = VA - __START_KERNEL_map + phys_base (phys_base may be negative).
  const std::uint64_t pa = *pgd - kStartKernelMap + static_cast<std::uint64_t>(phys_base);
  const std::uint64_t lo = static_cast<std::uint64_t>(phys_base); // PA of __START_KERNEL_map
  if (pa - lo >= image_size) return std::nullopt;
  const std::uint64_t pfn = pa / ps;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const Segment& s = segs[i];
    if (pfn < s.first_pfn || pfn >= s.first_pfn + s.file_pages) continue;
    const std::uint64_t first = pfn;
    const std::uint64_t end = pfn + 1;
    Alias a;
    a.segment = i;
    a.first_pfn = first;
    a.pages = end - first;
    a.vaddr = kStartKernelMap + (first * ps - lo);
    return a;
  }
  return std::nullopt;
}

template <typename T> void put(std::vector<std::byte>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

// Sequential output with a large buffer, so page data leaves in few write(2) calls.
class Writer {
public:
  Writer(int fd, const std::string& name) : fd_(fd), name_(name) { buf_.reserve(kBuffer); }
  Result<void> append(std::span<const std::byte> data) {
    if (buf_.size() + data.size() > kBuffer) GUESTDUMP_CHECK(flush());
    if (data.size() >= kBuffer) {
      GUESTDUMP_CHECK(write_all(fd_, data, name_));
      written_ += data.size();
      return {};
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
    return {};
  }
  Result<void> zeros(std::uint64_t n) {
    static const std::byte kZero[4096] = {};
    while (n > 0) {
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof kZero));
      GUESTDUMP_CHECK(append(std::span(kZero, k)));
      n -= k;
    }
    return {};
  }
  Result<void> flush() {
    if (buf_.empty()) return {};
    GUESTDUMP_CHECK(write_all(fd_, buf_, name_));
    written_ += buf_.size();
    buf_.clear();
    return {};
  }
  std::uint64_t position() const { return written_ + buf_.size(); }

private:
  static constexpr std::size_t kBuffer = 1 << 20;
  int fd_;
  const std::string& name_;
  std::vector<std::byte> buf_;
  std::uint64_t written_ = 0;
};

} // namespace

Result<ElfWriteStats> write_elf_core(const ElfWriteRequest& req, int fd, const std::string& name) {
  if (req.source == nullptr || req.ram == nullptr || req.dumpable == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "write_elf_core: incomplete request");
  }
  const DumpMetadata& meta = req.source->metadata();
  if (meta.arch != KdumpArch::kX86_64) {
    return make_error(ErrorCode::kUnsupported,
                      "'" + meta.path + "': ELF output is implemented for x86_64 guests only");
  }
  const std::uint64_t ps = meta.page_size;
  ElfWriteStats stats;
  auto reader = req.source->make_reader();
  std::vector<std::byte> scratch(ps);
  // The program headers come first, so zero pages must be known before any data is written.
  PfnBitmap kept_zero_free;
  const PfnBitmap* keep = req.dumpable;
  if (req.exclude_zero_pages) {
    kept_zero_free = *req.dumpable;
    std::uint64_t run_start = 0, run_len = 0;
    auto close_run = [&] {
      if (run_len >= kMinZeroRun) {
        kept_zero_free.assign_range(run_start, run_len, false);
        stats.pages_zero += run_len;
      }
      run_len = 0;
    };
    for (std::uint64_t pfn = keep->next_set(0); pfn < keep->size(); pfn = keep->next_set(pfn + 1)) {
      auto page = reader->read(pfn, scratch);
      if (!page) return std::move(page).error().context("'" + meta.path + "'");
      if (is_zero_page(std::span(*page, ps))) {
        if (run_len != 0 && pfn != run_start + run_len) close_run();
        if (run_len == 0) run_start = pfn;
        ++run_len;
      } else {
        close_run();
      }
      if ((pfn & 0xffff) == 0) GUESTDUMP_CHECK(check_cancel());
    }
    close_run();
    keep = &kept_zero_free;
  }
  std::vector<Segment> segs = plan_segments(*req.ram, *keep);
  const std::optional<Alias> alias = kernel_image_alias(meta, segs, ps);
  if (alias) {
    // libkdumpfile 0.5.1 drops the rest of a RAM segment that another segment overlaps
    // partially from its RAM map; split the RAM segment so one piece is exactly the alias's page.
    const Segment s = segs[alias->segment];
    const std::uint64_t head = alias->first_pfn - s.first_pfn;
    std::vector<Segment> pieces;
    if (head > 0) pieces.push_back({s.first_pfn, head, head});
    pieces.push_back({alias->first_pfn, 1, 1});
    if (s.mem_pages > head + 1) {
      pieces.push_back({alias->first_pfn + 1, s.mem_pages - head - 1, s.file_pages - head - 1});
    }
    segs.erase(segs.begin() + static_cast<std::ptrdiff_t>(alias->segment));
    segs.insert(segs.begin() + static_cast<std::ptrdiff_t>(alias->segment), pieces.begin(),
                pieces.end());
  }
  const std::uint64_t phnum = 1 + segs.size() + (alias ? 1 : 0);
  // Extended numbering: e_phnum = PN_XNUM and the real count in section header 0's sh_info.
  const bool xnum = phnum >= PN_XNUM;
  const std::uint64_t phdrs_end = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  const std::uint64_t shdr_off = xnum ? phdrs_end : 0;
  const std::uint64_t notes_off = phdrs_end + (xnum ? sizeof(Elf64_Shdr) : 0);
  const std::uint64_t notes_end = notes_off + req.notes.size();
  const std::uint64_t alias_off = (notes_end + ps - 1) / ps * ps;
  const std::uint64_t data_off = alias_off + (alias ? alias->pages * ps : 0);

  Writer out(fd, name);
  std::vector<std::byte> head;
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_shoff = shdr_off;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<Elf64_Half>(xnum ? PN_XNUM : phnum);
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = xnum ? 1 : 0;
  eh.e_shstrndx = SHN_UNDEF;
  put(head, eh);

  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = notes_off;
  note.p_filesz = req.notes.size();
  note.p_memsz = req.notes.size();
  put(head, note);

  std::uint64_t cursor = data_off;
  if (alias) {
    // First, as in /proc/vmcore: libkdumpfile 0.5.1 lets a later overlapping segment cut the
    // earlier one short, so the RAM segments must come after it.
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_W | PF_X;
    ph.p_offset = alias_off;
    ph.p_paddr = alias->first_pfn * ps;
    ph.p_vaddr = alias->vaddr;
    ph.p_filesz = alias->pages * ps;
    ph.p_memsz = alias->pages * ps;
    put(head, ph);
  }
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const Segment& s = segs[i];
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_W | PF_X;
    ph.p_offset = cursor;
    ph.p_paddr = s.first_pfn * ps;
    ph.p_vaddr = ph.p_paddr;
    ph.p_filesz = s.file_pages * ps;
    ph.p_memsz = s.mem_pages * ps;
    cursor += ph.p_filesz;
    stats.pages_dumped += s.file_pages;
    put(head, ph);
    if (head.size() >= (1 << 20)) {
      GUESTDUMP_CHECK(out.append(head));
      head.clear();
    }
  }
  if (xnum) {
    Elf64_Shdr sh{};
    sh.sh_info = static_cast<Elf64_Word>(phnum);
    put(head, sh);
  }
  GUESTDUMP_CHECK(out.append(head));
  GUESTDUMP_CHECK(out.append(req.notes));
  GUESTDUMP_CHECK(out.zeros(alias_off - notes_end));
  if (alias) {
    for (std::uint64_t pfn = alias->first_pfn; pfn < alias->first_pfn + alias->pages; ++pfn) {
      auto page = reader->read(pfn, scratch);
      if (!page) return std::move(page).error().context("'" + meta.path + "'");
      GUESTDUMP_CHECK(out.append(std::span(*page, ps)));
    }
  }

  std::uint64_t done = 0;
  for (const Segment& s : segs) {
    for (std::uint64_t pfn = s.first_pfn; pfn < s.first_pfn + s.file_pages; ++pfn) {
      auto page = reader->read(pfn, scratch);
      if (!page) return std::move(page).error().context("'" + meta.path + "'");
      GUESTDUMP_CHECK(out.append(std::span(*page, ps)));
      if ((++done & 0xffff) == 0) {
        GUESTDUMP_CHECK(check_cancel());
        if (req.progress) req.progress(done, stats.pages_dumped);
      }
    }
  }
  GUESTDUMP_CHECK(out.flush());
  if (req.progress) req.progress(done, stats.pages_dumped);
  stats.segments = segs.size() + (alias ? 1 : 0);
  stats.file_size = out.position();
  return stats;
}

} // namespace guestdump::formats
