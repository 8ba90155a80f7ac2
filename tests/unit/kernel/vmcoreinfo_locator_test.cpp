// The VMCOREINFO locator on synthetic guests: kernels with their own page tables, utsname and
// VMCOREINFO (note page and raw text page) laid out in 32 MiB of RAM, vCPUs given as QEMU CPU
// notes. Covers the live note, a stale copy from an earlier boot, a crash kernel's note and the
// safecopy, page-cache copies, symbols that do not translate, the agent's address, no note at
// all, and the hook that carries the result into the output plan.

#include "guestdump/kernel/vmcoreinfo_locator.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/output_plan.h"
#include "temp_dir.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

constexpr std::uint64_t kKernelMap = 0xffffffff80000000ULL;
constexpr std::uint64_t kRamBytes = 32ULL << 20;

struct Ram {
  std::vector<std::uint8_t> bytes = std::vector<std::uint8_t>(kRamBytes, 0);
  void put64(std::uint64_t pa, std::uint64_t v) { std::memcpy(bytes.data() + pa, &v, 8); }
  std::uint64_t get64(std::uint64_t pa) const {
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + pa, 8);
    return v;
  }
  void put(std::uint64_t pa, std::string_view s) {
    std::memcpy(bytes.data() + pa, s.data(), s.size());
  }
  // The kernel's note image: header, "VMCOREINFO\0" padded to 12, text.
  void put_note(std::uint64_t pa, const std::string& text) {
    const std::uint32_t hdr[3] = {11, static_cast<std::uint32_t>(text.size()), 0};
    std::memcpy(bytes.data() + pa, hdr, 12);
    std::memcpy(bytes.data() + pa + 12, "VMCOREINFO\0\0", 12);
    put(pa + 24, text);
  }
};

// One kernel: image at `image_pa` (2 MiB aligned, 4 MiB, mapped with 2 MiB pages), page tables
// inside it, init_uts_ns with `release`, and its VMCOREINFO text.
struct Kernel {
  std::uint64_t image_pa = 0x400000;
  std::uint64_t kaslr = 0x1b400000; // KERNELOFFSET; _stext = 0xffffffff81000000 + kaslr
  std::string release = "6.1.0-56-cloud-amd64";
  bool five_level = false;
  std::map<std::string, std::string> extra; // VMCOREINFO lines replaced

  std::uint64_t stext_va() const { return 0xffffffff81000000ULL + kaslr; }
  std::int64_t phys_base() const {
    return static_cast<std::int64_t>(image_pa) - static_cast<std::int64_t>(stext_va() - kKernelMap);
  }
  std::uint64_t va(std::uint64_t pa) const {
    return pa - static_cast<std::uint64_t>(phys_base()) + kKernelMap;
  }
  std::uint64_t root() const { return image_pa + 0x100000; }
  std::uint64_t uts_pa() const { return image_pa + 0x201b60; }

  void build(Ram& ram) const {
    std::uint64_t next = root() + 0x1000;
    for (std::uint64_t off = 0; off < (4ULL << 20); off += 2ULL << 20) {
      std::uint64_t table = root();
      const std::uint64_t v = stext_va() + off;
      for (int shift = five_level ? 48 : 39; shift > 21; shift -= 9) {
        const std::uint64_t e = table + ((v >> shift) & 0x1ff) * 8;
        if ((ram.get64(e) & 1) == 0) {
          ram.put64(e, next | 3);
          next += 0x1000;
        }
        table = ram.get64(e) & ~0xfffULL;
      }
      ram.put64(table + ((v >> 21) & 0x1ff) * 8, (image_pa + off) | 0x83);
    }
    ram.put(uts_pa(), "Linux");
    ram.put(uts_pa() + 65, "guest");
    ram.put(uts_pa() + 130, release);
    ram.put(uts_pa() + 325, "x86_64");
  }
  std::string text() const {
    char b[32];
    std::map<std::string, std::string> kv;
    kv["OSRELEASE"] = release;
    kv["BUILD-ID"] = "0123456789abcdef0123456789abcdef01234567";
    kv["PAGESIZE"] = "4096";
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(va(uts_pa())));
    kv["SYMBOL(init_uts_ns)"] = b;
    kv["OFFSET(uts_namespace.name)"] = "0";
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(stext_va()));
    kv["SYMBOL(_stext)"] = b;
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(va(root())));
    kv["SYMBOL(init_top_pgt)"] = b;
    kv["NUMBER(phys_base)"] = std::to_string(phys_base());
    kv["NUMBER(pgtable_l5_enabled)"] = five_level ? "1" : "0";
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(kaslr));
    kv["KERNELOFFSET"] = b;
    for (const auto& [k, v] : extra) kv[k] = v;
    // OSRELEASE first, as the kernel writes it.
    std::string t = "OSRELEASE=" + kv["OSRELEASE"] + "\n";
    for (const auto& [k, v] : kv) {
      if (k != "OSRELEASE" && !v.empty()) t += k + "=" + v + "\n";
    }
    return t;
  }
};

// QEMUCPUState with paging on: CR0.PG, CR4.PAE (+LA57), CR3.
test::ElfNote qemu_note(std::uint64_t cr3, bool five_level) {
  test::ElfNote n;
  n.name = "QEMU";
  n.desc.assign(432, 0);
  const std::uint32_t ver = 1, size = 432;
  std::memcpy(n.desc.data(), &ver, 4);
  std::memcpy(n.desc.data() + 4, &size, 4);
  const std::uint64_t cr0 = 0x80050033, cr4 = 0x20 | (five_level ? 0x1000 : 0);
  std::memcpy(n.desc.data() + 392, &cr0, 8);
  std::memcpy(n.desc.data() + 416, &cr3, 8);
  std::memcpy(n.desc.data() + 424, &cr4, 8);
  return n;
}

// Guest RAM held in memory (no file): most tests only need reads.
class RamSource final : public DumpSource {
public:
  RamSource(const std::vector<std::uint8_t>& ram, const std::vector<test::ElfNote>& notes)
      : ram_(ram) {
    const std::uint64_t pages = ram_.size() / 4096;
    meta_.path = "ram";
    meta_.format = "elf64";
    meta_.max_pfn = pages;
    meta_.ram = PfnBitmap(pages);
    meta_.ram.assign_range(0, pages, true);
    meta_.available = meta_.ram;
    for (const auto& n : notes)
      append_note(meta_.notes, n.name, n.type, std::as_bytes(std::span(n.desc)));
    meta_.nr_cpus = static_cast<int>(notes.size());
  }
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override {
    struct Reader final : PageReader {
      const std::vector<std::uint8_t>* ram = nullptr;
      Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte>) override {
        return reinterpret_cast<const std::byte*>(ram->data() + pfn * 4096);
      }
    };
    auto r = std::make_unique<Reader>();
    r->ram = &ram_;
    return r;
  }

private:
  std::vector<std::uint8_t> ram_;
  DumpMetadata meta_;
};

struct Guest {
  Ram ram;
  std::vector<test::ElfNote> notes;
  std::unique_ptr<test::TempDir> dir = std::make_unique<test::TempDir>();
  void cpu(const Kernel& k, std::uint64_t cr3_low_bits = 0) {
    notes.push_back(qemu_note(k.root() | cr3_low_bits, k.five_level));
  }
  std::unique_ptr<DumpSource> in_memory() const {
    return std::make_unique<RamSource>(ram.bytes, notes);
  }
  // Through a real ELF core file and open_dump().
  std::unique_ptr<DumpSource> open() {
    test::ElfCoreSpec spec;
    spec.notes = notes;
    test::ElfSegment s;
    s.memsz = ram.bytes.size();
    s.data = ram.bytes;
    spec.loads = {s};
    test::write_file(dir->file("guest.elf"), test::build_elf_core(spec));
    auto src = open_dump(dir->file("guest.elf"));
    if (!src) throw std::runtime_error(src.error().message);
    return std::move(src).value();
  }
};

constexpr std::uint64_t kLiveNote = 0x1100000; // in the DMA32 zone's first pages
constexpr std::uint64_t kLiveText = 0x1180000;

// A guest running `k`, with its note and raw text where the kernel puts them.
Guest live_guest(const Kernel& k, int cpus = 2) {
  Guest g;
  k.build(g.ram);
  g.ram.put_note(kLiveNote, k.text());
  g.ram.put(kLiveText, k.text());
  for (int i = 0; i < cpus; ++i) g.cpu(k);
  return g;
}

LocateReport locate(Guest& g, const LocateOptions& opts = {}) {
  auto src = g.in_memory();
  auto r = locate_vmcoreinfo(*src, opts);
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r).value();
}

const LocateCandidate* candidate(const LocateReport& r, std::uint64_t pa) {
  for (const auto& c : r.candidates) {
    if (c.pa == pa) return &c;
  }
  return nullptr;
}

TEST(VmcoreinfoLocator, FindsTheLiveNote) {
  for (bool five : {false, true}) {
    Kernel k;
    k.five_level = five;
    Guest g = live_guest(k);
    auto r = locate(g);
    ASSERT_TRUE(r.vmcoreinfo) << r.summary;
    EXPECT_EQ(r.pa, kLiveNote);
    EXPECT_EQ(r.origin, "guest memory at PA 0x1100000");
    EXPECT_EQ(r.vmcoreinfo->text(), k.text());
    EXPECT_EQ(r.cpus_usable, 2);
    const auto* c = candidate(r, kLiveNote);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->note);
    EXPECT_EQ(c->cpu_votes, 2);
    EXPECT_TRUE(c->self_consistent);
    EXPECT_TRUE(c->release_matches);
    EXPECT_TRUE(c->verdict.starts_with("accepted")) << c->verdict;
    // Every vCPU agrees with a note: the scan stops there, before the raw text page.
    EXPECT_EQ(candidate(r, kLiveText), nullptr);
    EXPECT_LT(r.pages_scanned, kRamBytes / 4096);
  }
}

TEST(VmcoreinfoLocator, PtiUserPageTableStillCounts) {
  Kernel k;
  Guest g = live_guest(k, 0);
  g.cpu(k, 0x1000 | 0x5); // user PGD (kernel PGD + 4 KiB) with a PCID
  g.cpu(k);
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(candidate(r, kLiveNote)->cpu_votes, 2);
}

TEST(VmcoreinfoLocator, RejectsAStaleCopyFromAnEarlierBoot) {
  Kernel live;
  Kernel old;
  old.image_pa = 0xc00000;
  old.kaslr = 0x2e000000;
  old.release = "6.1.0-55-cloud-amd64";
  Guest g = live_guest(live);
  old.build(g.ram);                           // its image and page tables survived the reboot
  constexpr std::uint64_t kStale = 0x1080000; // scanned before the live note
  g.ram.put_note(kStale, old.text());
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, kLiveNote);
  EXPECT_EQ(r.vmcoreinfo->osrelease(), "6.1.0-56-cloud-amd64");
  const auto* stale = candidate(r, kStale);
  ASSERT_NE(stale, nullptr);
  EXPECT_EQ(stale->cpu_votes, 0);
  EXPECT_TRUE(stale->self_consistent); // it maps itself, but no vCPU runs it
  EXPECT_TRUE(stale->verdict.starts_with("rejected")) << stale->verdict;
}

TEST(VmcoreinfoLocator, StaleCopyOfTheSameReleaseWithAnotherKaslrOffset) {
  Kernel live;
  Kernel old = live;
  old.image_pa = 0xc00000;
  old.kaslr = 0x3c000000;
  Guest g = live_guest(live);
  old.build(g.ram);
  g.ram.put_note(0x1080000, old.text());
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, kLiveNote);
  EXPECT_EQ(r.vmcoreinfo->kernel_offset(), 0x1b400000u);
}

TEST(VmcoreinfoLocator, CrashKernelNoteAndSafecopy) {
  // A loaded crash kernel: the kernel's safecopy of the raw text in the reservation, and a note
  // of another kernel (the capture kernel's, from an earlier kdump) whose page tables are gone.
  Kernel live;
  Kernel capture;
  capture.image_pa = 0x1600000;
  capture.kaslr = 0;
  Guest g = live_guest(live);
  constexpr std::uint64_t kSafecopy = 0x1000000, kCaptureNote = 0x1001000;
  g.ram.put(kSafecopy, live.text());
  g.ram.put_note(kCaptureNote, capture.text());
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, kLiveNote); // a note wins over the (identical) safecopy text
  const auto* safe = candidate(r, kSafecopy);
  ASSERT_NE(safe, nullptr);
  EXPECT_FALSE(safe->note);
  EXPECT_TRUE(safe->verdict.starts_with("not chosen")) << safe->verdict;
  const auto* cap = candidate(r, kCaptureNote);
  ASSERT_NE(cap, nullptr);
  EXPECT_EQ(cap->cpu_votes, 0);
  EXPECT_FALSE(cap->self_consistent);
  EXPECT_TRUE(cap->verdict.starts_with("rejected")) << cap->verdict;
}

TEST(VmcoreinfoLocator, TwoKernelsRunningPrefersTheOneMoreVcpusAgreeWith) {
  // Dumped while a kdump kernel ran on one vCPU and the crashed kernel's vCPUs sat stopped.
  Kernel crashed;
  Kernel capture;
  capture.image_pa = 0x1600000;
  capture.kaslr = 0;
  capture.release = "6.1.0-56-kdump";
  Guest g = live_guest(crashed, 2);
  capture.build(g.ram);
  constexpr std::uint64_t kCaptureNote = 0x1001000;
  g.ram.put_note(kCaptureNote, capture.text());
  g.cpu(capture);
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, kLiveNote);
  EXPECT_EQ(candidate(r, kCaptureNote)->cpu_votes, 1);
  EXPECT_EQ(candidate(r, kLiveNote)->cpu_votes, 2);
  EXPECT_NE(r.summary.find("another kernel's copy at PA 0x1001000"), std::string::npos)
      << r.summary;
}

TEST(VmcoreinfoLocator, IgnoresUnalignedPageCacheCopies) {
  Kernel k;
  Guest g;
  k.build(g.ram);
  g.cpu(k);
  // A saved vmcore in the page cache: the note sits inside the file, not at a page start.
  g.ram.put_note(0x1300124, k.text());
  g.ram.put(0x1400a00, k.text());
  auto r = locate(g);
  EXPECT_FALSE(r.vmcoreinfo);
  EXPECT_TRUE(r.candidates.empty());
  EXPECT_EQ(r.origin, "none");
  // Beside the live note they are not candidates either.
  g.ram.put_note(kLiveNote, k.text());
  auto r2 = locate(g);
  ASSERT_TRUE(r2.vmcoreinfo) << r2.summary;
  EXPECT_EQ(r2.pa, kLiveNote);
  EXPECT_EQ(r2.candidates.size(), 1u);
}

TEST(VmcoreinfoLocator, RejectsANoteWhoseSymbolsDoNotTranslate) {
  Kernel k;
  Guest g;
  k.build(g.ram);
  g.cpu(k);
  Kernel liar = k;
  liar.extra["SYMBOL(_stext)"] = "ffffffffa0000000"; // outside the mapped image
  g.ram.put_note(kLiveNote, liar.text());
  Kernel wrong_base = k;
  wrong_base.extra["NUMBER(phys_base)"] = std::to_string(k.phys_base() + 0x200000);
  g.ram.put_note(kLiveNote + 0x10000, wrong_base.text());
  Kernel wrong_release = k;
  wrong_release.release = "6.1.0-99-cloud-amd64"; // utsname says -56
  g.ram.put_note(kLiveNote + 0x20000, wrong_release.text());
  auto r = locate(g);
  EXPECT_FALSE(r.vmcoreinfo) << r.summary;
  ASSERT_EQ(r.candidates.size(), 3u);
  for (const auto& c : r.candidates) EXPECT_TRUE(c.verdict.starts_with("rejected")) << c.verdict;
  EXPECT_EQ(candidate(r, kLiveNote)->cpu_votes, 0);
  EXPECT_EQ(candidate(r, kLiveNote + 0x10000)->cpu_votes, 0);
  EXPECT_FALSE(candidate(r, kLiveNote + 0x20000)->release_matches);
  EXPECT_NE(r.summary.find("none proves itself"), std::string::npos) << r.summary;
}

TEST(VmcoreinfoLocator, ManyBogusCandidatesStayBounded) {
  Kernel k;
  Guest g = live_guest(k);
  for (std::uint64_t i = 0; i < 200; ++i) g.ram.put(0x1000000 + i * 4096, "OSRELEASE=x\n");
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, kLiveNote);
  EXPECT_EQ(r.candidates.size(), 65u); // 64 rejected ones kept, then the proven note
  EXPECT_NE(r.summary.find("136 more candidates not kept"), std::string::npos) << r.summary;
}

// The budget: a guest that floods its RAM with candidates or is too large to scan whole makes
// the locator give up with a clear reason instead of spending unbounded CPU and memory.
TEST(VmcoreinfoLocator, CandidateFloodSpendsTheBudgetAndSaysSo) {
  Kernel k;
  Guest g = live_guest(k);
  // 200 candidates in front of the live note (the DMA32 region is scanned from 16 MiB).
  for (std::uint64_t i = 0; i < 200; ++i) g.ram.put(0x1000000 + i * 4096, "OSRELEASE=x\n");
  LocateOptions opts;
  opts.max_candidates = 50;
  auto r = locate(g, opts);
  EXPECT_FALSE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.candidates.size(), 50u);
  EXPECT_NE(r.summary.find("gave up after examining 50 candidates (the locator's budget)"),
            std::string::npos)
      << r.summary;
}

TEST(VmcoreinfoLocator, ScanBytesBudget) {
  Kernel k;
  Guest g = live_guest(k);
  LocateOptions opts;
  opts.likely_region_bytes = 0;   // straight to the kernel image and then all of RAM
  opts.max_scan_bytes = 8 * 4096; // the note is at 17 MiB: out of reach
  auto r = locate(g, opts);
  EXPECT_FALSE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pages_scanned, 8u);
  EXPECT_NE(r.summary.find("gave up after scanning 32768 bytes"), std::string::npos) << r.summary;
}

TEST(VmcoreinfoLocator, OldKernelKeepsItInBss) {
  // Before 4.13 the note is a static array in the kernel image, 4-byte aligned.
  Kernel k;
  Guest g;
  k.build(g.ram);
  g.cpu(k);
  const std::uint64_t bss = k.image_pa + 0x300000 + 0xff4; // the name straddles a page
  g.ram.put_note(bss, k.text());
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, bss);
  EXPECT_FALSE(candidate(r, bss)->page_aligned);
}

TEST(VmcoreinfoLocator, OldKernelInTheLikelyRegionIsStillSearchedInside) {
  // A nokaslr kernel sits at 16 MiB, inside the DMA32 region whose page starts are looked at
  // before the image: its pages must still be searched at every 4-byte position.
  Kernel k;
  k.image_pa = 0x1000000;
  Guest g;
  k.build(g.ram);
  g.cpu(k);
  const std::uint64_t bss = k.image_pa + 0x300000 + 0x7f0;
  g.ram.put_note(bss, k.text());
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.pa, bss);
}

TEST(VmcoreinfoLocator, AgentAddressIsTriedFirst) {
  Kernel k;
  Guest g = live_guest(k);
  LocateOptions opts;
  opts.hint_pa = kLiveNote;
  auto r = locate(g, opts);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.origin, "guest agent at PA 0x1100000");
  EXPECT_EQ(r.pages_scanned, 0u); // proven before any scan
  // An address from an earlier boot must still prove itself; the scan then finds the live one.
  Kernel old;
  old.image_pa = 0xc00000;
  old.kaslr = 0x2e000000;
  old.build(g.ram);
  g.ram.put_note(0x900000, old.text());
  opts.hint_pa = 0x900000;
  auto r2 = locate(g, opts);
  ASSERT_TRUE(r2.vmcoreinfo) << r2.summary;
  EXPECT_EQ(r2.origin, "guest memory at PA 0x1100000");
  EXPECT_TRUE(candidate(r2, 0x900000)->verdict.starts_with("rejected"));
  // An address outside the dump is harmless.
  opts.hint_pa = ~0ULL - 8;
  EXPECT_TRUE(locate(g, opts).vmcoreinfo);
}

TEST(VmcoreinfoLocator, NoVcpuStateAcceptsOnlyAnUnambiguousSelfConsistentCopy) {
  Kernel k;
  Guest g = live_guest(k, 0);
  auto r = locate(g);
  ASSERT_TRUE(r.vmcoreinfo) << r.summary;
  EXPECT_EQ(r.cpus_usable, 0);
  Kernel old;
  old.image_pa = 0xc00000;
  old.kaslr = 0x2e000000;
  old.release = "6.1.0-55-cloud-amd64";
  old.build(g.ram);
  g.ram.put_note(0x900000, old.text());
  auto r2 = locate(g);
  EXPECT_FALSE(r2.vmcoreinfo) << r2.summary;
  EXPECT_NE(r2.summary.find("different kernels"), std::string::npos) << r2.summary;
}

TEST(VmcoreinfoLocator, NoNoteAtAllKeepsLevelOneAndSaysSo) {
  Kernel k;
  Guest g;
  k.build(g.ram);
  g.cpu(k);
  g.ram.put(0x1500000, "OSRELEASE=%s\n"); // the format string in .rodata is no candidate
  auto src = g.open();
  auto view = with_vmcoreinfo(std::move(src));
  ASSERT_TRUE(view) << view.error().message;
  const auto& meta = (*view)->metadata();
  EXPECT_FALSE(meta.vmcoreinfo);
  EXPECT_EQ(vmcoreinfo_origin(meta), "none");
  auto plan = plan_output(**view, 31);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->filter.dumpable.count(), meta.available.count());
  EXPECT_NE(plan->filter.fallback.find("dump level 1"), std::string::npos) << plan->filter.fallback;
  auto rec = find_filter_note(plan->notes);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->vmcoreinfo, "none");
}

TEST(VmcoreinfoLocator, HookCarriesTheTextAndItsOriginIntoTheOutput) {
  Kernel k;
  Guest g = live_guest(k);
  auto view = with_vmcoreinfo(g.open());
  ASSERT_TRUE(view) << view.error().message;
  const auto& meta = (*view)->metadata();
  ASSERT_TRUE(meta.vmcoreinfo);
  EXPECT_EQ(vmcoreinfo_origin(meta), "guest memory at PA 0x1100000");
  // Page reads go to the original source.
  auto reader = (*view)->make_reader();
  std::vector<std::byte> scratch(4096);
  auto page = reader->read(kLiveNote / 4096, scratch);
  ASSERT_TRUE(page);
  EXPECT_EQ(std::memcmp(*page + 24, "OSRELEASE=", 10), 0);
  auto plan = plan_output(**view, 1);
  ASSERT_TRUE(plan) << plan.error().message;
  auto notes = parse_notes(plan->notes);
  ASSERT_TRUE(notes);
  const NoteView* vi = find_vmcoreinfo(*notes);
  ASSERT_NE(vi, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(vi->desc.data()), vi->desc.size()), k.text());
  EXPECT_EQ(std::count_if(notes->begin(), notes->end(),
                          [](const NoteView& n) { return n.name == "QEMU"; }),
            2); // CPU notes kept
  auto rec = find_filter_note(plan->notes);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->vmcoreinfo, "guest memory at PA 0x1100000");
  EXPECT_EQ(plan->header.utsname[2], "6.1.0-56-cloud-amd64"); // read through the located text
  EXPECT_EQ(plan->header.utsname[1], "guest");
}

TEST(VmcoreinfoLocator, DumpNoteIsUsedAsIs) {
  Kernel k;
  Guest g;
  k.build(g.ram);
  g.notes.push_back(test::make_vmcoreinfo_note(k.text()));
  auto src = g.open();
  const DumpSource* raw = src.get();
  auto view = with_vmcoreinfo(std::move(src));
  ASSERT_TRUE(view);
  EXPECT_EQ(view->get(), raw);
  EXPECT_EQ(vmcoreinfo_origin((*view)->metadata()), "dump note");
}

TEST(SysfsVmcoreinfo, Parses) {
  auto v = parse_sysfs_vmcoreinfo("0x00000000011de000 1024\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->pa, 0x11de000u);
  EXPECT_EQ(v->size, 0x1024u);
  EXPECT_TRUE(parse_sysfs_vmcoreinfo("100824000 1024"));
  EXPECT_FALSE(parse_sysfs_vmcoreinfo(""));
  EXPECT_FALSE(parse_sysfs_vmcoreinfo("0x11de000"));
  EXPECT_FALSE(parse_sysfs_vmcoreinfo("0xzz 1024"));
  EXPECT_FALSE(parse_sysfs_vmcoreinfo("0x11de000 0"));
  EXPECT_FALSE(parse_sysfs_vmcoreinfo("0x11de000 1024 extra"));
  EXPECT_FALSE(parse_sysfs_vmcoreinfo("0x1ffffffffffffffff 1024"));
}

} // namespace
} // namespace guestdump::kernel
