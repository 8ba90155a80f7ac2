// ELF core reader: QEMU/libvirt dump-guest-memory output, /proc/vmcore, makedumpfile -E.
// libelf parses the headers (it handles PN_XNUM and e_phoff wherever it points — QEMU >= 7.2
// puts a section header first). Everything is read with pread(), nothing is mapped: mmap() of
// /proc/vmcore builds page tables for the whole old memory at once (about 2 MiB per GiB), which
// a capture kernel in a small crashkernel= reservation cannot spare.

#include <algorithm>
#include <cstring>

#include <gelf.h>

#include "elf_core_layout.h"
#include "elf_handles.h"
#include "guestdump/common/io.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/formats/limits.h"

namespace guestdump::formats {
namespace {

using Segment = detail::ElfSegment;

// Little-endian field of a header whose bounds the caller has checked.
template <typename T> T load_le(std::span<const std::byte> b, std::size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

class ElfCoreSource final : public DumpSource {
public:
  ElfCoreSource(UniqueFd fd, DumpMetadata meta, std::vector<Segment> segs)
      : fd_(std::move(fd)), meta_(std::move(meta)), segs_(std::move(segs)) {}
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override;

  int fd() const { return fd_.get(); }
  const std::vector<Segment>& segments() const { return segs_; }

private:
  UniqueFd fd_;
  DumpMetadata meta_;
  std::vector<Segment> segs_; // sorted by paddr, non-overlapping
};

// Reads page data with pread() into a window of up to kWindow bytes of one segment: workers walk
// their chunk in PFN order, so one read serves many pages, and no page of the (possibly
// RAM-sized) file is ever faulted into our address space.
class ElfPageReader final : public PageReader {
public:
  explicit ElfPageReader(const ElfCoreSource& src)
      : src_(src), window_(std::make_unique<std::byte[]>(kWindow)) {}
  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
    const auto& segs = src_.segments();
    const std::uint64_t ps = src_.metadata().page_size;
    const std::uint64_t pa = pfn * ps;
    if (pa >= win_pa_ && pa + ps <= win_pa_ + win_len_) return window_.get() + (pa - win_pa_);
    const Segment* seg = nullptr;
    if (last_ < segs.size() && pa >= segs[last_].paddr &&
        pa + ps <= segs[last_].paddr + segs[last_].filesz) {
      seg = &segs[last_];
    } else {
      auto it = std::upper_bound(segs.begin(), segs.end(), pa,
                                 [](std::uint64_t a, const Segment& s) { return a < s.paddr; });
      if (it != segs.begin()) {
        std::size_t idx = static_cast<std::size_t>(it - segs.begin()) - 1;
        if (pa >= segs[idx].paddr && pa + ps <= segs[idx].paddr + segs[idx].filesz) {
          last_ = idx;
          seg = &segs[idx];
        }
      }
    }
    if (seg != nullptr) {
      const std::uint64_t len = std::min<std::uint64_t>(kWindow, seg->paddr + seg->filesz - pa);
      GUESTDUMP_CHECK(load(pfn, seg->offset + (pa - seg->paddr), std::span(window_.get(), len)));
      win_pa_ = pa;
      win_len_ = len;
      return window_.get();
    }
    // Slow path: a page that straddles segment edges or the end of a segment's file data.
    std::fill(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(ps), std::byte{0});
    for (const Segment& s : segs) {
      std::uint64_t lo = std::max(pa, s.paddr);
      std::uint64_t hi = std::min(pa + ps, s.paddr + s.filesz);
      if (lo < hi) {
        GUESTDUMP_CHECK(load(pfn, s.offset + (lo - s.paddr),
                             scratch.subspan(static_cast<std::size_t>(lo - pa), hi - lo)));
      }
    }
    return scratch.data();
  }

private:
  static constexpr std::size_t kWindow = 256 * 1024;

  Result<void> load(std::uint64_t pfn, std::uint64_t offset, std::span<std::byte> out) {
    auto r = pread_exact(src_.fd(), out, offset, src_.metadata().path);
    if (!r) {
      win_len_ = 0;
      Error e = std::move(r).error();
      return std::move(e).context("page " + hex(pfn));
    }
    return {};
  }

  const ElfCoreSource& src_;
  std::unique_ptr<std::byte[]> window_;
  std::uint64_t win_pa_ = 0;
  std::uint64_t win_len_ = 0;
  std::size_t last_ = SIZE_MAX;
};

std::unique_ptr<PageReader> ElfCoreSource::make_reader() const {
  return std::make_unique<ElfPageReader>(*this);
}

} // namespace

namespace detail {

Result<std::uint64_t> elf_core_head_size(std::span<const std::byte> head) {
  auto u16 = [&](std::size_t o) {
    return static_cast<std::uint64_t>(load_le<std::uint16_t>(head, o));
  };
  auto u32 = [&](std::size_t o) {
    return static_cast<std::uint64_t>(load_le<std::uint32_t>(head, o));
  };
  auto u64 = [&](std::size_t o) { return load_le<std::uint64_t>(head, o); };
  if (head.size() < EI_NIDENT) return std::uint64_t{EI_NIDENT};
  if (std::memcmp(head.data(), ELFMAG, SELFMAG) != 0) {
    return make_error(ErrorCode::kBadData, "not an ELF file");
  }
  const bool is64 = static_cast<unsigned char>(head[EI_CLASS]) == ELFCLASS64;
  const std::uint64_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (head.size() < ehsize) return ehsize;
  const std::uint64_t phoff = is64 ? u64(32) : u32(28);
  const std::uint64_t shoff = is64 ? u64(40) : u32(32);
  const std::uint64_t phentsize = u16(is64 ? 54 : 42);
  std::uint64_t phnum = u16(is64 ? 56 : 44);
  const std::uint64_t shentsize = u16(is64 ? 58 : 46);
  if (phentsize != (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
    return make_error(ErrorCode::kBadData, "program header size " + std::to_string(phentsize) +
                                               " is not the ELF class's");
  }
  if (phnum == PN_XNUM) {
    // Extended numbering: the real count is section header 0's sh_info.
    if (shentsize < (is64 ? 48u : 32u) || shoff > kMaxElfHead) {
      return make_error(ErrorCode::kBadData, "PN_XNUM without a usable section header 0");
    }
    if (head.size() < shoff + shentsize) return shoff + shentsize;
    phnum = u32(shoff + (is64 ? 44 : 28));
  }
  if (phoff > kMaxElfHead || phnum * phentsize > kMaxElfHead - phoff) {
    return make_error(ErrorCode::kBadData, "program headers (offset " + std::to_string(phoff) +
                                               ", " + std::to_string(phnum) +
                                               " entries) lie beyond any sane header size");
  }
  std::uint64_t need = std::max(ehsize, phoff + phnum * phentsize);
  if (head.size() < need) return need;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::size_t o = phoff + i * phentsize;
    if (u32(o) != PT_NOTE) continue;
    const std::uint64_t off = is64 ? u64(o + 8) : u32(o + 4);
    const std::uint64_t size = is64 ? u64(o + 32) : u32(o + 16);
    if (off > kMaxElfHead || size > kMaxElfHead - off) {
      return make_error(ErrorCode::kBadData,
                        "PT_NOTE " + std::to_string(i) + " lies beyond any sane header size");
    }
    need = std::max(need, off + size);
  }
  return need;
}

Result<ElfCoreLayout> parse_elf_core_head(std::span<const std::byte> head, std::uint64_t file_size,
                                          const std::string& path, const SameBytes& same_bytes) {
  if (head.size() < EI_NIDENT || std::memcmp(head.data(), ELFMAG, SELFMAG) != 0) {
    return make_error(ErrorCode::kBadData, "not an ELF file");
  }
  if (static_cast<unsigned char>(head[EI_DATA]) != ELFDATA2LSB) {
    return make_error(ErrorCode::kUnsupported, "big-endian ELF cores are not supported");
  }
  if (elf_version(EV_CURRENT) == EV_NONE) return detail::elf_error("libelf");
  // libelf reads the headers in place (native byte order, checked above): nothing is written.
  detail::UniqueElf elf(
      elf_memory(const_cast<char*>(reinterpret_cast<const char*>(head.data())), head.size()));
  if (!elf) return detail::elf_error("ELF header");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) return detail::elf_error("ELF header");
  if (ehdr.e_type != ET_CORE) {
    return make_error(ErrorCode::kBadData,
                      "ELF file is not a core dump (e_type " + std::to_string(ehdr.e_type) + ")");
  }
  DumpMetadata meta;
  meta.path = path;
  int cls = gelf_getclass(elf.get());
  if (ehdr.e_machine == EM_X86_64) {
    meta.arch = KdumpArch::kX86_64;
  } else if (ehdr.e_machine == EM_386) {
    meta.arch = KdumpArch::kI386;
  } else {
    return make_error(ErrorCode::kUnsupported,
                      "ELF machine " + std::to_string(ehdr.e_machine) + " is not supported");
  }
  meta.format = cls == ELFCLASS64 ? "elf64" : "elf32";

  std::size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) return detail::elf_error("program headers");
  if (phnum == 0) {
    return make_error(ErrorCode::kUnsupported,
                      "ELF core has no program headers (a Xen xl dump-core file?)");
  }
  // libelf checks the program header table lies inside the file; segment data is ours to check.
  std::vector<Segment> segs;
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) == nullptr) {
      return detail::elf_error("program header " + std::to_string(i));
    }
    if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
      return make_error(ErrorCode::kBadData,
                        "program header " + std::to_string(i) + " data (offset " +
                            std::to_string(ph.p_offset) + ", " + std::to_string(ph.p_filesz) +
                            " bytes) runs past the end of the file (" + std::to_string(file_size) +
                            " bytes): truncated dump?");
    }
    if (ph.p_type == PT_NOTE) {
      if (ph.p_offset > head.size() || ph.p_filesz > head.size() - ph.p_offset) {
        return make_error(ErrorCode::kBadData,
                          "PT_NOTE " + std::to_string(i) + " lies outside the headers read");
      }
      auto bytes = head.subspan(ph.p_offset, ph.p_filesz);
      meta.notes.insert(meta.notes.end(), bytes.begin(), bytes.end());
      // Each PT_NOTE is padded to 4 bytes so the merged blob stays a valid note sequence.
      meta.notes.resize((meta.notes.size() + 3) & ~std::size_t{3}, std::byte{0});
    } else if (ph.p_type == PT_LOAD) {
      if (ph.p_filesz > ph.p_memsz) {
        return make_error(ErrorCode::kBadData, "PT_LOAD " + std::to_string(i) +
                                                   " has more file bytes than memory bytes");
      }
      if (ph.p_memsz == 0) continue;
      // x86 physical addresses have at most 52 bits; beyond that the PFN bitmaps alone would
      // need terabytes (found by fuzz_elf_core).
      if (ph.p_paddr + ph.p_memsz < ph.p_paddr || ph.p_paddr + ph.p_memsz > (1ULL << 52)) {
        return make_error(ErrorCode::kBadData, "PT_LOAD " + std::to_string(i) +
                                                   " lies beyond the 52-bit physical address "
                                                   "space");
      }
      segs.push_back({ph.p_paddr, ph.p_memsz, ph.p_filesz, ph.p_offset});
    }
  }
  if (segs.empty()) return make_error(ErrorCode::kBadData, "ELF core has no PT_LOAD segments");
  // By start, and of two that start together the longer first: the /proc/vmcore kernel-text
  // segment comes first in the file and may start exactly where its RAM segment does (a KASLR
  // kernel placed right after the crashkernel reservation, seen in CI), and must then be seen
  // as the one contained.
  std::stable_sort(segs.begin(), segs.end(), [](const Segment& a, const Segment& b) {
    return a.paddr != b.paddr ? a.paddr < b.paddr : a.memsz > b.memsz;
  });
  // Overlapping physical ranges: a segment fully inside another with identical bytes is an
  // alias (the /proc/vmcore kernel-text segment); anything else is a broken dump.
  std::vector<Segment> kept;
  for (const Segment& s : segs) {
    if (!kept.empty() && s.paddr < kept.back().paddr + kept.back().memsz) {
      const Segment& k = kept.back();
      bool contained = s.paddr + s.memsz <= k.paddr + k.memsz && s.filesz == s.memsz &&
                       s.paddr + s.filesz <= k.paddr + k.filesz;
      if (contained && same_bytes &&
          same_bytes(s.offset, k.offset + (s.paddr - k.paddr), s.filesz)) {
        continue;
      }
      return make_error(ErrorCode::kBadData, "PT_LOAD segments overlap at physical " +
                                                 hex(s.paddr) + " (" + hex(k.paddr) + "-" +
                                                 hex(k.paddr + k.memsz) + " and " + hex(s.paddr) +
                                                 "-" + hex(s.paddr + s.memsz) + ")");
    }
    kept.push_back(s);
  }
  meta.page_size = 4096;
  const std::uint64_t ps = meta.page_size;
  const Segment& last = kept.back();
  meta.max_pfn = (last.paddr + last.memsz) / ps;
  // The PFN bitmaps (and every PFN-indexed table downstream) span max_pfn: it may exceed the
  // pages the file holds by kMaxPfnHoles at most, so a 120-byte file claiming one page at
  // 2^52 cannot ask for terabyte bitmaps.
  std::uint64_t data_pages = 0;
  for (const Segment& s : kept) data_pages += s.filesz / ps + 1;
  if (meta.max_pfn > data_pages + kMaxPfnHoles) {
    return make_error(ErrorCode::kBadData,
                      "PT_LOAD segments reach PFN " + std::to_string(meta.max_pfn) + " but hold " +
                          std::to_string(data_pages) + " pages of data: more than " +
                          std::to_string(kMaxPfnHoles) + " PFNs without data (the cap on holes)");
  }
  meta.ram = PfnBitmap(meta.max_pfn);
  meta.available = PfnBitmap(meta.max_pfn);
  for (const Segment& s : kept) {
    // makedumpfile's rule: PFNs floor(start/ps) .. floor(end/ps) - 1 are RAM.
    std::uint64_t first = s.paddr / ps;
    std::uint64_t end = (s.paddr + s.memsz) / ps;
    if (end > first) meta.ram.assign_range(first, end - first, true);
    std::uint64_t data_end = (s.paddr + s.filesz + ps - 1) / ps;
    std::uint64_t avail_end = std::min(end, data_end);
    if (avail_end > first) meta.available.assign_range(first, avail_end - first, true);
  }
  meta.available.intersect(meta.ram);

  GUESTDUMP_TRY(auto notes, parse_notes(meta.notes));
  meta.nr_cpus = count_prstatus(notes);
  meta.producer = dump_producer(notes, meta.utsname);
  meta.machine_frames = machine_frames_from_notes(meta.notes, meta.warnings); // Xen PV output
  if (const NoteView* vi = find_vmcoreinfo(notes)) {
    meta.vmcoreinfo = VmcoreInfo::parse(
        std::string_view(reinterpret_cast<const char*>(vi->desc.data()), vi->desc.size()));
    if (auto ps_v = meta.vmcoreinfo->page_size(); ps_v && *ps_v != ps) {
      return make_error(ErrorCode::kUnsupported,
                        "guest page size " + std::to_string(*ps_v) + " is not supported");
    }
  }
  return ElfCoreLayout{std::move(meta), std::move(kept)};
}

} // namespace detail

Result<std::unique_ptr<DumpSource>> open_elf_core(const std::string& path) {
  GUESTDUMP_TRY(RegularFile file, open_regular_file(path));
  UniqueFd& fd = file.fd;
  const std::uint64_t file_size = file.size;
  // The head grows until elf_core_head_size() is satisfied (a few rounds at most) or the file
  // ends; a head cut short by the end of the file gets parse_elf_core_head()'s own error.
  std::vector<std::byte> head;
  std::uint64_t want = std::min<std::uint64_t>(file_size, 64 * 1024);
  for (;;) {
    const std::size_t have = head.size();
    head.resize(static_cast<std::size_t>(want));
    GUESTDUMP_CHECK(pread_exact(fd.get(), std::span(head).subspan(have), have, path));
    GUESTDUMP_TRY(std::uint64_t need, detail::elf_core_head_size(head));
    if (need <= head.size() || head.size() == file_size) break;
    want = std::min(need, file_size);
  }
  // Alias check for the /proc/vmcore kernel-text segment: compared through two small buffers.
  auto same = [&fd](std::uint64_t a, std::uint64_t b, std::uint64_t n) {
    constexpr std::size_t kChunk = 64 * 1024;
    std::vector<std::byte> x(kChunk), y(kChunk);
    for (std::uint64_t done = 0; done < n;) {
      const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, n - done));
      if (!pread_exact(fd.get(), std::span(x.data(), len), a + done, {}) ||
          !pread_exact(fd.get(), std::span(y.data(), len), b + done, {}) ||
          std::memcmp(x.data(), y.data(), len) != 0) {
        return false;
      }
      done += len;
    }
    return true;
  };
  GUESTDUMP_TRY(auto layout, detail::parse_elf_core_head(head, file_size, path, same));
  return std::unique_ptr<DumpSource>(
      new ElfCoreSource(std::move(fd), std::move(layout.meta), std::move(layout.segments)));
}

} // namespace guestdump::formats
