// VMCOREINFO locator; see vmcoreinfo_locator.h. Facts used (Linux >= 4.13, commit 203e9e41):
// the kernel keeps the note in a page of its own (12-byte header, "VMCOREINFO\0" padded to 12,
// text at +24) and the raw text in another page; older kernels keep both in .bss, 4-byte
// aligned. /sys/kernel/vmcoreinfo prints the note's physical address.

#include "guestdump/kernel/vmcoreinfo_locator.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/pv_page_tables.h"
#include "x86_paging.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

using x86::kEntryAddrMask;
using x86::kPresent;
using x86::kPse;
constexpr std::uint64_t kKernelMap = x86::kStartKernelMap;
constexpr std::uint64_t kKernelMapEnd = 0xffffffffc0000000ULL; // + KERNEL_IMAGE_SIZE (1 GiB)
constexpr std::uint64_t kMaxImageBytes = 256ULL << 20;         // bound on the kernel-image scan
constexpr std::size_t kUtsLen = 65;
constexpr std::size_t kMaxText = 4096; // VMCOREINFO_BYTES
constexpr std::size_t kMaxCandidates = 64;
constexpr char kNoteName[] = "VMCOREINFO";
constexpr char kTextStart[] = "OSRELEASE=";
constexpr std::size_t kTextStartLen = sizeof kTextStart - 1;

// QEMUCPUState (version 1): 8-byte header, 18 registers, 10 segment caches of 24 bytes, then
// cr[0..4].
constexpr std::size_t kQemuCr0 = 8 + 18 * 8 + 10 * 24;
constexpr std::size_t kQemuCpuStateMin = kQemuCr0 + 5 * 8;

template <typename T> T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One vCPU's view of the kernel: its page-table root(s) and paging depth.
struct CpuView {
  std::vector<std::uint64_t> roots; // CR3, and the kernel PGD if CR3 may be PTI's user PGD
  bool five_level = false;
};

std::vector<CpuView> cpus_from_notes(std::span<const std::byte> blob) {
  std::vector<CpuView> cpus;
  auto notes = parse_notes(blob);
  if (!notes) return cpus;
  for (const auto& n : *notes) {
    if (n.name != "QEMU" || n.desc.size() < kQemuCpuStateMin) continue;
    const std::byte* d = n.desc.data();
    const auto cr0 = load<std::uint64_t>(d + kQemuCr0);
    const auto cr3 = load<std::uint64_t>(d + kQemuCr0 + 3 * 8);
    const auto cr4 = load<std::uint64_t>(d + kQemuCr0 + 4 * 8);
    // Paging on (CR0.PG) with PAE (CR4.PAE): the only mode a 64-bit kernel runs in.
    if ((cr0 & (1ULL << 31)) == 0 || (cr4 & (1ULL << 5)) == 0) continue;
    CpuView v;
    v.five_level = (cr4 & (1ULL << 12)) != 0; // CR4.LA57
    const std::uint64_t root = cr3 & kEntryAddrMask;
    if (root == 0) continue;
    v.roots.push_back(root);
    // With PTI a vCPU in user mode runs on the user PGD, which is the kernel PGD + 4 KiB.
    if ((root & 0x1000) != 0) v.roots.push_back(root & ~0x1000ULL);
    cpus.push_back(std::move(v));
  }
  return cpus;
}

// Physical reads for page-table walks and candidate text: a small cache of whole pages, since
// a reader fetches a large window per miss.
class PhysPages {
public:
  explicit PhysPages(const DumpSource& src)
      : src_(src), reader_(src.make_reader()), ps_(src.metadata().page_size), scratch_(ps_) {}

  // nullptr when the page is not in the dump or cannot be read.
  const std::byte* page(std::uint64_t pfn) {
    if (auto it = cache_.find(pfn); it != cache_.end()) return it->second.data();
    const DumpMetadata& meta = src_.metadata();
    if (pfn >= meta.max_pfn || !meta.available.test(pfn)) return nullptr;
    auto r = reader_->read(pfn, scratch_);
    if (!r) return nullptr;
    if (cache_.size() >= kCachePages) cache_.clear();
    auto& slot = cache_[pfn];
    slot.assign(*r, *r + ps_);
    return slot.data();
  }
  bool read(std::uint64_t pa, std::span<std::byte> out) {
    std::size_t done = 0;
    while (done < out.size()) {
      const std::uint64_t addr = pa + done;
      if (addr < pa) return false; // wrapped
      const std::byte* p = page(addr / ps_);
      if (p == nullptr) return false;
      const std::size_t off = static_cast<std::size_t>(addr % ps_);
      const std::size_t n = std::min<std::size_t>(out.size() - done, ps_ - off);
      std::memcpy(out.data() + done, p + off, n);
      done += n;
    }
    return true;
  }
  std::optional<std::uint64_t> u64(std::uint64_t pa) {
    std::uint64_t v = 0;
    if (!read(pa, std::as_writable_bytes(std::span(&v, 1)))) return std::nullopt;
    return v;
  }
  // Walks 4- or 5-level tables from `root`; bounded by the number of levels.
  std::optional<std::uint64_t> translate(std::uint64_t root, bool five_level, std::uint64_t va,
                                         std::uint64_t sme_mask = 0) {
    const std::uint64_t mask = kEntryAddrMask & ~sme_mask;
    const MachineFrameMap* m2p = src_.metadata().machine_frames.get(); // Xen PV, else null
    std::uint64_t table = root;
    for (int shift = five_level ? 48 : 39; shift >= 12; shift -= 9) {
      auto e = u64(table + ((va >> shift) & 0x1ff) * 8);
      if (!e || (*e & kPresent) == 0) return std::nullopt;
      const std::uint64_t next = *e & mask;
      if ((shift == 30 || shift == 21) && (*e & kPse) != 0) {
        const std::uint64_t page_mask = (std::uint64_t{1} << shift) - 1;
        return x86::entry_address(m2p, (next & ~page_mask) | (va & page_mask));
      }
      if (shift == 12) return x86::entry_address(m2p, next | (va & 0xfff));
      auto pa = x86::entry_address(m2p, next);
      if (!pa) return std::nullopt;
      table = *pa;
    }
    return std::nullopt;
  }

private:
  static constexpr std::size_t kCachePages = 256;
  const DumpSource& src_;
  std::unique_ptr<PageReader> reader_;
  std::uint64_t ps_;
  std::vector<std::byte> scratch_;
  std::map<std::uint64_t, std::vector<std::byte>> cache_;
};

// The physical range of the kernel image as a vCPU maps it: head64 leaves only [_text, _end)
// mapped in the kernel-text window, so the lowest and highest mapped 2 MiB blocks bound it.
std::optional<std::pair<std::uint64_t, std::uint64_t>> kernel_image(PhysPages& mem,
                                                                    const CpuView& cpu) {
  for (std::uint64_t root : cpu.roots) {
    std::optional<std::uint64_t> first_va, first_pa, last_va;
    for (std::uint64_t va = kKernelMap; va < kKernelMapEnd; va += 2ULL << 20) {
      auto pa = mem.translate(root, cpu.five_level, va);
      if (!pa) continue;
      if (!first_va) {
        first_va = va;
        first_pa = *pa;
      }
      last_va = va;
    }
    if (!first_va) continue;
    const std::uint64_t len =
        std::min<std::uint64_t>(*last_va + (2ULL << 20) - *first_va, kMaxImageBytes);
    return std::make_pair(*first_pa, *first_pa + len);
  }
  return std::nullopt;
}

bool text_shape_ok(std::string_view text) {
  // Printable KEY=VALUE lines only: rejects format strings in .rodata and random data early.
  if (!text.starts_with(kTextStart)) return false;
  for (char c : text) {
    if (c != '\n' && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

class Locator {
public:
  Locator(const DumpSource& src, const LocateOptions& opts)
      : src_(src), meta_(src.metadata()), opts_(opts), mem_(src), ps_(meta_.page_size),
        starts_scanned_(meta_.max_pfn), inside_scanned_(meta_.max_pfn) {}

  Result<LocateReport> run();

private:
  struct Found {
    LocateCandidate c;
    VmcoreInfo vi;
    bool from_hint = false;
  };

  // Reads a candidate at `pa` (a note or raw text); nullopt if it is not one.
  std::optional<Found> read_candidate(std::uint64_t pa, bool note) {
    std::string text;
    if (note) {
      std::array<std::byte, 24> h{};
      if (!mem_.read(pa, h)) return std::nullopt;
      const auto namesz = load<std::uint32_t>(h.data());
      const auto descsz = load<std::uint32_t>(h.data() + 4);
      const auto type = load<std::uint32_t>(h.data() + 8);
      if (namesz != sizeof kNoteName || type != 0 || descsz <= kTextStartLen || descsz > kMaxText ||
          std::memcmp(h.data() + 12, kNoteName, sizeof kNoteName) != 0) {
        return std::nullopt;
      }
      text.resize(descsz);
      if (!mem_.read(pa + 24, std::as_writable_bytes(std::span(text)))) return std::nullopt;
    } else {
      text.resize(kMaxText);
      // The raw buffer is one page; near the end of RAM read what there is.
      std::size_t n = kMaxText;
      while (n > 0 && !mem_.read(pa, std::as_writable_bytes(std::span(text.data(), n)))) {
        n = n > ps_ ? n - ps_ : 0;
      }
      text.resize(n);
    }
    if (auto nul = text.find('\0'); nul != std::string::npos) text.resize(nul);
    if (!text_shape_ok(text)) return std::nullopt;
    Found f;
    f.vi = VmcoreInfo::parse(text);
    if (f.vi.bad_lines() != 0 || !f.vi.osrelease()) return std::nullopt;
    f.c.pa = pa;
    f.c.note = note;
    f.c.page_aligned = pa % ps_ == 0;
    f.c.osrelease = std::string(*f.vi.osrelease());
    return f;
  }

  // The proof: symbols through every vCPU's page tables, then init_uts_ns's release.
  void prove(Found& f) {
    LocateCandidate& c = f.c;
    const VmcoreInfo& vi = f.vi;
    auto stext = vi.symbol("_stext");
    auto uts = vi.symbol("init_uts_ns");
    if (vi.page_size() && *vi.page_size() != ps_) {
      c.verdict = "PAGESIZE differs from the dump's";
      return;
    }
    if (!stext || !uts || *stext < kKernelMap || *uts < kKernelMap) {
      c.verdict = "no kernel-image SYMBOL(_stext) or SYMBOL(init_uts_ns)";
      return;
    }
    const auto phys_base = static_cast<std::uint64_t>(vi.number("phys_base").value_or(0));
    const auto sme = static_cast<std::uint64_t>(vi.number("sme_mask").value_or(0));
    auto expect = [&](std::uint64_t va) { return va - kKernelMap + phys_base; };
    auto maps_both = [&](std::uint64_t root, bool five) {
      auto a = mem_.translate(root, five, *stext, sme);
      auto b = mem_.translate(root, five, *uts, sme);
      return a && b && *a == expect(*stext) && *b == expect(*uts);
    };
    for (const CpuView& cpu : cpus_) {
      if (std::any_of(cpu.roots.begin(), cpu.roots.end(),
                      [&](std::uint64_t r) { return maps_both(r, cpu.five_level); })) {
        ++c.cpu_votes;
      }
    }
    if (auto pgd = vi.symbol("init_top_pgt").value_or(vi.symbol("swapper_pg_dir").value_or(0));
        pgd >= kKernelMap) {
      c.self_consistent =
          maps_both(expect(pgd) & ~sme, vi.number("pgtable_l5_enabled").value_or(0) != 0);
    }
    std::vector<std::string> rejected;
    auto name_off = vi.offset_in("uts_namespace.name", 6 * kUtsLen, kMaxStructSize,
                                 "the largest kernel structure", rejected);
    if (!rejected.empty()) {
      c.verdict = "unusable " + rejected.front();
      return;
    }
    std::array<char, kUtsLen> rel{};
    // utsname: sysname, nodename, release (third 65-byte field).
    if (mem_.read(expect(*uts + name_off.value_or(4) + 2 * kUtsLen),
                  std::as_writable_bytes(std::span(rel)))) {
      rel[kUtsLen - 1] = '\0';
      c.release_matches = c.osrelease == rel.data();
    }
    if (!c.release_matches) {
      c.verdict = "init_uts_ns does not hold release '" + c.osrelease + "'";
    } else if (c.cpu_votes > 0) {
      c.verdict = "symbols translate through " + std::to_string(c.cpu_votes) + " of " +
                  std::to_string(cpus_.size()) + " vCPUs' page tables";
    } else if (!cpus_.empty()) {
      c.verdict = c.self_consistent ? "maps itself but no vCPU's page tables agree (an earlier "
                                      "boot or another kernel)"
                                    : "symbols do not translate through any vCPU's page tables";
    } else {
      c.verdict = c.self_consistent ? "maps itself (no vCPU state to check against)"
                                    : "symbols do not translate through its own page tables";
    }
  }

  bool proven(const Found& f) const {
    if (!f.c.release_matches) return false;
    return cpus_.empty() ? f.c.self_consistent : f.c.cpu_votes > 0;
  }
  // Nothing better can turn up: a note that every vCPU agrees with.
  bool conclusive(const Found& f) const {
    return proven(f) && f.c.note && !cpus_.empty() &&
           f.c.cpu_votes == static_cast<int>(cpus_.size());
  }

  // Stops the scan, keeping what was found, when the budget is spent.
  void give_up(std::string why) {
    done_ = true;
    if (budget_spent_.empty()) budget_spent_ = std::move(why);
  }

  void consider(std::uint64_t pa, bool note, bool from_hint = false) {
    if (seen_.contains({pa, note})) return;
    if (seen_.size() >= opts_.max_candidates) {
      give_up("gave up after examining " + std::to_string(seen_.size()) +
              " candidates (the locator's budget)");
      return;
    }
    seen_.insert({pa, note});
    auto f = read_candidate(pa, note);
    if (!f) return;
    f->from_hint = from_hint;
    prove(*f);
    if (conclusive(*f)) done_ = true;
    // A guest can fill its RAM with candidates: keep memory bounded, proven copies first.
    if (found_.size() >= (proven(*f) ? 2 * kMaxCandidates : kMaxCandidates)) {
      ++dropped_;
      return;
    }
    found_.push_back(std::move(*f));
  }

  // Page starts of [first, end) PFNs, read sequentially; `anywhere` also searches inside pages
  // (the kernel image, where pre-4.13 kernels keep VMCOREINFO in .bss).
  Result<void> scan(std::uint64_t first, std::uint64_t end, bool anywhere) {
    end = std::min(end, meta_.max_pfn);
    auto reader = src_.make_reader();
    std::vector<std::byte> scratch(ps_);
    // Matches that cross the page boundary: last 32 bytes of the previous page + first 32 of
    // this one.
    std::array<std::byte, 64> seam{};
    std::uint64_t prev = UINT64_MAX;
    for (std::uint64_t pfn = first; pfn < end && !done_; ++pfn) {
      // A page whose start was looked at is looked at again for an inside scan.
      PfnBitmap& visited = anywhere ? inside_scanned_ : starts_scanned_;
      if (visited.test(pfn) || !meta_.available.test(pfn)) continue;
      if (pages_ >= opts_.max_scan_bytes / ps_) {
        give_up("gave up after scanning " + std::to_string(pages_ * ps_) +
                " bytes (the locator's budget)");
        break;
      }
      visited.set(pfn);
      starts_scanned_.set(pfn);
      auto r = reader->read(pfn, scratch);
      if (!r) continue; // unreadable page: skip, the conversion will report it
      ++pages_;
      const std::byte* p = *r;
      const std::uint64_t pa = pfn * ps_;
      if (std::memcmp(p + 12, kNoteName, sizeof kNoteName) == 0) consider(pa, true);
      if (std::memcmp(p, kTextStart, kTextStartLen) == 0) consider(pa, false);
      if (!anywhere) continue;
      // Unaligned copies: 4-byte aligned in .bss; the note's name is at +12 of its header.
      for (std::size_t off = 4; off + sizeof kNoteName <= ps_ && !done_; off += 4) {
        if (p[off] == std::byte{'V'} && off >= 12 &&
            std::memcmp(p + off, kNoteName, sizeof kNoteName - 1) == 0) {
          consider(pa + off - 12, true);
        } else if (p[off] == std::byte{'O'} &&
                   std::memcmp(p + off, kTextStart, kTextStartLen) == 0) {
          consider(pa + off, false);
        }
      }
      if (prev == pfn - 1) {
        std::memcpy(seam.data() + 32, p, 32);
        for (std::size_t s = 0; s + sizeof kNoteName <= seam.size() && !done_; s += 4) {
          const std::uint64_t at = pa - 32 + s; // seen_ drops what the page loops found
          if (s >= 12 && std::memcmp(seam.data() + s, kNoteName, sizeof kNoteName - 1) == 0) {
            consider(at - 12, true);
          } else if (std::memcmp(seam.data() + s, kTextStart, kTextStartLen) == 0) {
            consider(at, false);
          }
        }
      }
      std::memcpy(seam.data(), p + ps_ - 32, 32);
      prev = pfn;
      if ((pages_ & 0xffff) == 0) GUESTDUMP_CHECK(check_cancel());
    }
    return {};
  }

  LocateReport decide();

  const DumpSource& src_;
  const DumpMetadata& meta_;
  const LocateOptions& opts_;
  PhysPages mem_;
  std::uint64_t ps_;
  PfnBitmap starts_scanned_; // pages whose start was compared
  PfnBitmap inside_scanned_; // pages searched at every 4-byte position
  std::vector<CpuView> cpus_;
  std::set<std::pair<std::uint64_t, bool>> seen_;
  std::vector<Found> found_;
  std::uint64_t pages_ = 0;
  std::uint64_t dropped_ = 0; // candidates beyond the kept ones
  bool done_ = false;
  std::string budget_spent_; // why the scan stopped early, if it did
};

Result<LocateReport> Locator::run() {
  if (meta_.arch != KdumpArch::kX86_64 || ps_ != 4096 || meta_.max_pfn == 0) {
    LocateReport rep;
    rep.summary = "the locator handles x86_64 guests with 4 KiB pages only";
    return rep;
  }
  cpus_ = cpus_from_notes(meta_.notes);
  // 1. The address the guest itself reported (guest agent).
  if (opts_.hint_pa) consider(*opts_.hint_pa, true, true);
  // 2. Since 4.13 the note page is allocated early in boot from the top zone's first free
  // pages: the Normal zone starts at 4 GiB, DMA32 at 16 MiB (PA 0x100824000 on the 4 GiB fixture
  // guest, 0x11de000 on the 1 GiB one). Page starts only, so this comes before the kernel image,
  // which is read whole (~40 MiB) and is needed only for older kernels.
  const std::uint64_t span = opts_.likely_region_bytes / ps_;
  for (std::uint64_t start : {4ULL << 30, 16ULL << 20}) {
    if (!done_) GUESTDUMP_CHECK(scan(start / ps_, start / ps_ + span, false));
  }
  // 3. The kernel image as the vCPUs map it (pre-4.13 kernels keep the note in .bss). Its
  // pages already read as page starts above are read again here, for the inside positions.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> image;
  for (const CpuView& cpu : cpus_) {
    if ((image = kernel_image(mem_, cpu))) break;
  }
  if (image && !done_) GUESTDUMP_CHECK(scan(image->first / ps_, image->second / ps_ + 1, true));
  // 4. Everything else.
  if (!done_) GUESTDUMP_CHECK(scan(0, meta_.max_pfn, false));
  return decide();
}

LocateReport Locator::decide() {
  LocateReport rep;
  rep.cpus_usable = static_cast<int>(cpus_.size());
  rep.pages_scanned = pages_;
  // Best first: more vCPUs agreeing, then a note over raw text, then page-aligned, then the
  // agent's address, then the lowest address.
  std::vector<const Found*> ok;
  for (const Found& f : found_) {
    if (proven(f)) ok.push_back(&f);
  }
  std::stable_sort(ok.begin(), ok.end(), [](const Found* a, const Found* b) {
    if (a->c.cpu_votes != b->c.cpu_votes) return a->c.cpu_votes > b->c.cpu_votes;
    if (a->c.note != b->c.note) return a->c.note;
    if (a->c.page_aligned != b->c.page_aligned) return a->c.page_aligned;
    if (a->from_hint != b->from_hint) return a->from_hint;
    return a->c.pa < b->c.pa;
  });
  const Found* best = ok.empty() ? nullptr : ok.front();
  for (const Found& f : found_) {
    LocateCandidate c = f.c;
    if (&f == best) {
      c.verdict = "accepted: " + c.verdict;
    } else if (proven(f)) {
      c.verdict = "not chosen: " + c.verdict;
    } else {
      c.verdict = "rejected: " + c.verdict;
    }
    rep.candidates.push_back(std::move(c));
  }
  std::string scanned = std::to_string(pages_) + " pages scanned";
  if (dropped_ != 0) scanned += ", " + std::to_string(dropped_) + " more candidates not kept";
  if (!budget_spent_.empty()) scanned += ", " + budget_spent_;
  if (best == nullptr) {
    rep.summary = (found_.empty() ? "no VMCOREINFO copy in guest memory"
                                  : std::to_string(found_.size()) +
                                        " VMCOREINFO copies in guest memory, none proves itself") +
                  " (" + scanned + ")";
    return rep;
  }
  // Without vCPU state a copy that merely maps itself is accepted only if it is unambiguous.
  if (cpus_.empty()) {
    for (const Found* f : ok) {
      if (f->vi.text() != best->vi.text() && f->vi.osrelease() != best->vi.osrelease()) {
        rep.summary = "VMCOREINFO copies of different kernels map themselves and no vCPU state "
                      "tells them apart (" +
                      scanned + ")";
        for (auto& c : rep.candidates) {
          if (c.verdict.starts_with("accepted")) c.verdict = "not chosen: ambiguous";
        }
        return rep;
      }
    }
  }
  rep.vmcoreinfo = best->vi;
  rep.pa = best->c.pa;
  rep.origin = best->from_hint ? origin_guest_agent(best->c.pa) : origin_guest_memory(best->c.pa);
  rep.summary = "VMCOREINFO of " + best->c.osrelease + " found at PA " + hex(best->c.pa) + " (" +
                (best->c.note ? "note" : "text") + "; " + best->c.verdict + "; " + scanned + ")";
  // A different kernel that some vCPU also runs (a kdump kernel while the crashed kernel's
  // CPUs sit stopped, for instance): say which one was taken and why.
  for (const Found* f : ok) {
    if (f->vi.symbol("_stext") != best->vi.symbol("_stext") ||
        f->c.osrelease != best->c.osrelease) {
      rep.summary += "; another kernel's copy at PA " + hex(f->c.pa) + " agrees with " +
                     std::to_string(f->c.cpu_votes) + " vCPU(s), chose the one " +
                     std::to_string(best->c.cpu_votes) + " vCPU(s) agree with";
      break;
    }
  }
  return rep;
}

Result<std::unique_ptr<DumpSource>> located(std::unique_ptr<DumpSource> owned,
                                            const DumpSource& src, const LocateOptions& opts) {
  DumpMetadata meta = src.metadata();
  if (meta.vmcoreinfo) {
    if (meta.vmcoreinfo_origin.empty()) meta.vmcoreinfo_origin = std::string(kOriginDumpNote);
  } else {
    GUESTDUMP_TRY(LocateReport rep, locate_vmcoreinfo(src, opts));
    for (const auto& c : rep.candidates) {
      GUESTDUMP_LOG(kDebug, "locator")
          << "'" << meta.path << "': PA " << hex(c.pa) << " (" << (c.note ? "note" : "text") << ", "
          << c.osrelease << "): " << c.verdict;
    }
    if (rep.vmcoreinfo) {
      GUESTDUMP_LOG(kInfo, "locator") << "'" << meta.path << "': " << rep.summary;
    } else {
      // The caller says what it does without VMCOREINFO (convert, capture) or fails (dmesg).
      GUESTDUMP_LOG(kDebug, "locator") << "'" << meta.path << "': " << rep.summary;
    }
    meta.vmcoreinfo = std::move(rep.vmcoreinfo);
    meta.vmcoreinfo_origin = rep.origin;
  }
  if (owned) return with_metadata(std::move(owned), std::move(meta));
  return view_with_metadata(src, std::move(meta));
}

} // namespace

std::string origin_guest_memory(std::uint64_t pa) {
  return "guest memory at PA " + hex(pa);
}

std::string origin_guest_agent(std::uint64_t pa) {
  return "guest agent at PA " + hex(pa);
}

Result<LocateReport> locate_vmcoreinfo(const DumpSource& src, const LocateOptions& opts) {
  Locator loc(src, opts);
  return loc.run();
}

Result<std::unique_ptr<DumpSource>> with_vmcoreinfo(std::unique_ptr<DumpSource> src,
                                                    const LocateOptions& opts) {
  if (!src->metadata().vmcoreinfo) { // else vmcoreinfo_origin() says "dump note"
    const DumpSource& ref = *src;
    GUESTDUMP_TRY(src, located(std::move(src), ref, opts));
  }
  return with_pseudo_physical_tables(std::move(src)); // Xen PV: as the other readers need it
}

Result<std::unique_ptr<DumpSource>> view_with_vmcoreinfo(const DumpSource& src,
                                                         const LocateOptions& opts) {
  GUESTDUMP_TRY(auto view, located(nullptr, src, opts));
  return with_pseudo_physical_tables(std::move(view));
}

std::string vmcoreinfo_origin(const DumpMetadata& meta) {
  if (!meta.vmcoreinfo_origin.empty()) return meta.vmcoreinfo_origin;
  return std::string(meta.vmcoreinfo ? kOriginDumpNote : kOriginNone);
}

std::optional<SysfsVmcoreinfo> parse_sysfs_vmcoreinfo(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::size_t sp = text.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  std::string_view a = text.substr(0, sp), s = text.substr(sp + 1);
  if (a.starts_with("0x") || a.starts_with("0X")) a.remove_prefix(2);
  if (a.empty() || s.empty() || a.size() > 16) return std::nullopt;
  auto pa = parse_unsigned(a, 16);
  auto size = parse_unsigned(s, 16);
  if (!pa || !size || *size == 0 || *size > (1ULL << 20) || *pa > (1ULL << 52)) {
    return std::nullopt;
  }
  return SysfsVmcoreinfo{*pa, *size};
}

} // namespace guestdump::kernel
