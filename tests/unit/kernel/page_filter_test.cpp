// Page filtering and the guest kernel model on synthetic guests: hand-built page tables (4- and
// 5-level), a SPARSEMEM_EXTREME mem_section table, a vmemmap of struct pages, and VMCOREINFO in
// the shape of a Debian 6.1 kernel. One test per makedumpfile rule, plus lying and incomplete
// input.

#include "guestdump/kernel/page_filter.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <regex>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/guest_kernel.h"
#include "temp_dir.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

constexpr std::uint64_t kKernelMap = 0xffffffff80000000ULL;
constexpr std::uint64_t kPageOffset4 = 0xffff888000000000ULL;
constexpr std::uint64_t kPageOffset5 = 0xff11000000000000ULL;
constexpr std::uint64_t kVmemmap4 = 0xffffea0000000000ULL;
constexpr std::uint64_t kVmemmap5 = 0xffd4000000000000ULL;
constexpr std::uint64_t kRamPages = 4096;        // 16 MiB
constexpr std::uint64_t kPagesPerSection = 1024; // SECTION_SIZE_BITS=22
constexpr std::uint64_t kStructPages = 0x100000; // PA of the struct page array (64 pages)
constexpr std::uint64_t kRootArray = 0x8000;     // mem_section root array
constexpr std::uint64_t kSectionArray = 0x9000;  // mem_section[0..255]

// Struct page layout and numbers of Debian's 6.1 kernel (VMCOREINFO of the fixture guest).
constexpr std::uint64_t kFlags = 0, kCompoundHead = 8, kDtor = 16, kOrder = 17, kMapping = 24,
                        kPrivate = 40, kMapcount = 48;
constexpr int kPgLru = 4, kPgSwapcache = 10, kPgPrivate = 13, kPgSwapbacked = 19, kPgSlab = 9;
constexpr std::uint64_t kHeadMask = 1 << 16;
constexpr std::int32_t kBuddy = -129, kOffline = -257;

struct Guest {
  bool five_level = false;
  std::uint64_t kaslr = 0x1b400000; // KERNELOFFSET
  std::vector<std::uint8_t> ram = std::vector<std::uint8_t>(kRamPages * 4096, 0);
  std::uint64_t next_table = 0x10000;       // page-table pages are taken from here upwards
  std::map<std::string, std::string> extra; // VMCOREINFO lines added or replaced (value "" = drop)

  std::uint64_t page_offset() const { return five_level ? kPageOffset5 : kPageOffset4; }
  std::uint64_t vmemmap() const { return five_level ? kVmemmap5 : kVmemmap4; }
  std::uint64_t root() const { return 0x1000; }
  std::uint64_t pgd_va() const { return kKernelMap + kaslr + 0x1000; } // init_top_pgt
  std::int64_t phys_base() const { return -static_cast<std::int64_t>(kaslr); }

  void put64(std::uint64_t pa, std::uint64_t v) { std::memcpy(ram.data() + pa, &v, 8); }
  std::uint64_t get64(std::uint64_t pa) const {
    std::uint64_t v;
    std::memcpy(&v, ram.data() + pa, 8);
    return v;
  }
  // Maps [va, va + size) to pa with leaf pages of `leaf` bytes (4 KiB, 2 MiB or 1 GiB).
  void map(std::uint64_t va, std::uint64_t pa, std::uint64_t size, std::uint64_t leaf) {
    for (std::uint64_t off = 0; off < size; off += leaf) {
      std::uint64_t table = root();
      int leaf_shift = leaf == (1ULL << 30) ? 30 : leaf == (1ULL << 21) ? 21 : 12;
      for (int shift = five_level ? 48 : 39; shift > leaf_shift; shift -= 9) {
        std::uint64_t e = table + (((va + off) >> shift) & 0x1ff) * 8;
        if ((get64(e) & 1) == 0) {
          put64(e, next_table | 3);
          next_table += 4096;
        }
        table = get64(e) & ~0xfffULL;
      }
      put64(table + (((va + off) >> leaf_shift) & 0x1ff) * 8,
            (pa + off) | 3 | (leaf_shift == 12 ? 0 : 0x80));
    }
  }
  void build_memory_model() {
    // The kernel image (2 MiB pages at phys 0; KASLR moved it by `kaslr` virtually only).
    map(kKernelMap + kaslr, 0, 4ULL << 20, 2ULL << 20);
    map(page_offset(), 0, 1ULL << 30, 1ULL << 30);      // direct map
    map(vmemmap(), kStructPages, kRamPages * 64, 4096); // struct pages
    put64(kRootArray, page_offset() + kSectionArray);   // mem_section[0]
    for (std::uint64_t s = 0; s < kRamPages / kPagesPerSection; ++s) {
      put64(kSectionArray + s * 16, vmemmap() | 0x3); // PRESENT | HAS_MEM_MAP, encoded base
    }
  }
  std::uint8_t* page(std::uint64_t pfn) { return ram.data() + kStructPages + pfn * 64; }
  void set_flags(std::uint64_t pfn, std::uint64_t f) { std::memcpy(page(pfn) + kFlags, &f, 8); }
  void set_mapping(std::uint64_t pfn, std::uint64_t m) { std::memcpy(page(pfn) + kMapping, &m, 8); }
  void set_private(std::uint64_t pfn, std::uint64_t p) { std::memcpy(page(pfn) + kPrivate, &p, 8); }
  void set_mapcount(std::uint64_t pfn, std::int32_t m) {
    std::memcpy(page(pfn) + kMapcount, &m, 4);
  }
  // A compound page of 2^order pages at `pfn` (6.1 layout: order and dtor bytes in page[1]).
  void compound(std::uint64_t pfn, unsigned order, std::uint64_t head_flags, std::uint8_t dtor) {
    set_flags(pfn, head_flags | kHeadMask);
    page(pfn + 1)[kOrder] = static_cast<std::uint8_t>(order);
    page(pfn + 1)[kDtor] = dtor;
    for (std::uint64_t t = 1; t < (1ULL << order); ++t) {
      std::uint64_t head = vmemmap() + pfn * 64 + 1;
      std::memcpy(page(pfn + t) + kCompoundHead, &head, 8);
    }
  }

  std::string vmcoreinfo() const {
    char buf[64];
    std::map<std::string, std::string> kv = {
        {"OSRELEASE", "6.1.0-56-cloud-amd64"},
        {"PAGESIZE", "4096"},
        {"SYMBOL(mem_section)", ""},
        {"LENGTH(mem_section)", "65536"},
        {"SIZE(mem_section)", "16"},
        {"OFFSET(mem_section.section_mem_map)", "0"},
        {"NUMBER(SECTION_SIZE_BITS)", "22"},
        {"NUMBER(MAX_PHYSMEM_BITS)", "46"},
        {"SIZE(page)", "64"},
        {"OFFSET(page.flags)", "0"},
        {"OFFSET(page._refcount)", "52"},
        {"OFFSET(page.mapping)", "24"},
        {"OFFSET(page.lru)", "8"},
        {"OFFSET(page._mapcount)", "48"},
        {"OFFSET(page.private)", "40"},
        {"OFFSET(page.compound_dtor)", "16"},
        {"OFFSET(page.compound_order)", "17"},
        {"OFFSET(page.compound_head)", "8"},
        {"LENGTH(zone.free_area)", "11"},
        {"NUMBER(PG_lru)", "4"},
        {"NUMBER(PG_private)", "13"},
        {"NUMBER(PG_swapcache)", "10"},
        {"NUMBER(PG_swapbacked)", "19"},
        {"NUMBER(PG_slab)", "9"},
        {"NUMBER(PG_head_mask)", "65536"},
        {"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "-129"},
        {"NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)", "-257"},
        {"NUMBER(HUGETLB_PAGE_DTOR)", "2"},
        {"NUMBER(sme_mask)", "0"},
    };
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(pgd_va()));
    kv["SYMBOL(init_top_pgt)"] = buf;
    std::snprintf(buf, sizeof buf, "%llx",
                  static_cast<unsigned long long>(page_offset() + kRootArray));
    kv["SYMBOL(mem_section)"] = buf;
    kv["NUMBER(phys_base)"] = std::to_string(phys_base());
    kv["NUMBER(pgtable_l5_enabled)"] = five_level ? "1" : "0";
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(kaslr));
    kv["KERNELOFFSET"] = buf;
    for (const auto& [k, v] : extra) kv[k] = v;
    std::string text;
    for (const auto& [k, v] : kv) {
      if (!v.empty()) text += k + "=" + v + "\n";
    }
    return text;
  }

  std::unique_ptr<DumpSource> open(const test::TempDir& dir) const {
    test::ElfCoreSpec spec;
    spec.notes = {test::make_vmcoreinfo_note(vmcoreinfo())};
    test::ElfSegment s;
    s.memsz = ram.size();
    s.data = ram;
    spec.loads = {s};
    test::write_file(dir.file("guest.elf"), test::build_elf_core(spec));
    auto src = open_dump(dir.file("guest.elf"));
    if (!src) throw std::runtime_error(src.error().message);
    return std::move(src).value();
  }
};

Guest make_guest(bool five_level = false) {
  Guest g;
  g.five_level = five_level;
  g.build_memory_model();
  return g;
}

PageFilterResult run(const Guest& g, int level, unsigned threads = 0) {
  test::TempDir dir;
  auto src = g.open(dir);
  auto r = filter_pages(*src, level, {}, threads);
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r).value();
}

std::uint64_t excluded_in(const PageFilterResult& r, std::uint64_t first, std::uint64_t n) {
  return n - r.dumpable.count_range(first, n);
}

TEST(GuestKernel, LayoutFromVmcoreinfo) {
  for (bool five : {false, true}) {
    Guest g = make_guest(five);
    test::TempDir dir;
    auto src = g.open(dir);
    auto k = GuestKernel::open(*src);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_EQ((*k)->five_level(), five);
    EXPECT_EQ((*k)->kaslr_offset(), 0x1b400000u);
    EXPECT_EQ((*k)->phys_base(), -0x1b400000);
    EXPECT_EQ((*k)->page_table_root(), 0x1000u);
    EXPECT_EQ((*k)->page_offset_base(), g.page_offset());
    ASSERT_TRUE((*k)->vmemmap_base());
    EXPECT_EQ(*(*k)->vmemmap_base(), g.vmemmap());
    EXPECT_EQ((*k)->kernel_version(), GuestKernel::version(6, 1, 0));
    EXPECT_EQ((*k)->pages_per_section(), kPagesPerSection);
    EXPECT_EQ((*k)->sections(), 4u);
    EXPECT_EQ(*(*k)->struct_page_address(1500), g.vmemmap() + 1500 * 64);
    auto m = (*k)->translate(g.page_offset() + 0x12345);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->pa, 0x12345u);
    EXPECT_EQ(m->size, 1ULL << 30);
    g.set_flags(1500, 0x1234);
    std::vector<std::byte> buf(3 * 64);
    auto src2 = g.open(dir);
    auto k2 = GuestKernel::open(*src2);
    ASSERT_TRUE(k2);
    ASSERT_TRUE((*k2)->read_struct_pages(1499, 3, buf));
    std::uint64_t flags;
    std::memcpy(&flags, buf.data() + 64, 8);
    EXPECT_EQ(flags, 0x1234u);
    EXPECT_FALSE((*k2)->read_struct_pages(1023, 2, buf)); // crosses a section
  }
}

TEST(GuestKernel, KernelVersions) {
  EXPECT_EQ(parse_kernel_version("6.1.0-56-cloud-amd64"), GuestKernel::version(6, 1, 0));
  EXPECT_EQ(parse_kernel_version("5.10"), GuestKernel::version(5, 10, 0));
  EXPECT_EQ(parse_kernel_version("4.4.300"), GuestKernel::version(4, 4, 255));
  EXPECT_EQ(parse_kernel_version("x"), 0u);
  EXPECT_EQ(parse_kernel_version(""), 0u);
}

TEST(PageFilter, LevelOneKeepsEverythingWithoutHwpoisonKey) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.set_mapcount(200, kOffline);
  auto r = run(g, 1);
  EXPECT_FALSE(r.scanned);
  EXPECT_EQ(r.dumpable.count(), kRamPages);
  EXPECT_TRUE(r.fallback.empty()) << r.fallback;
  EXPECT_EQ(r.excluded.total(), 0u);
}

TEST(PageFilter, CacheRules) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);                       // cache
  g.set_flags(101, (1 << kPgLru) | (1 << kPgPrivate)); // cache + private
  g.set_flags(102, 1 << kPgLru);                       // anon on the LRU
  g.set_mapping(102, 0xffff888000001001ULL);
  g.set_flags(103, (1 << kPgSwapcache) | (1 << kPgSwapbacked)); // swap cache
  g.set_flags(104, 1 << kPgSwapcache);                          // not swap-backed
  auto r2 = run(g, 2);
  EXPECT_TRUE(r2.scanned);
  EXPECT_FALSE(r2.dumpable.test(100));
  EXPECT_TRUE(r2.dumpable.test(101));
  EXPECT_TRUE(r2.dumpable.test(102));
  EXPECT_FALSE(r2.dumpable.test(103));
  EXPECT_TRUE(r2.dumpable.test(104));
  EXPECT_EQ(r2.excluded.cache, 2u);
  EXPECT_EQ(r2.excluded.cache_private, 0u);
  auto r4 = run(g, 4);
  EXPECT_FALSE(r4.dumpable.test(100));
  EXPECT_FALSE(r4.dumpable.test(101));
  EXPECT_TRUE(r4.dumpable.test(102));
  EXPECT_EQ(r4.excluded.cache, 2u);
  EXPECT_EQ(r4.excluded.cache_private, 1u);
  auto r8 = run(g, 8);
  EXPECT_FALSE(r8.dumpable.test(102));
  EXPECT_TRUE(r8.dumpable.test(100));
  EXPECT_EQ(r8.excluded.user, 1u);
  EXPECT_EQ(r8.dumpable.count(), kRamPages - 1);
}

TEST(PageFilter, BuddyRangesAndSlab) {
  Guest g = make_guest();
  g.set_mapcount(64, kBuddy);
  g.set_private(64, 3); // order 3: PFNs 64-71
  g.set_mapcount(80, kBuddy);
  g.set_flags(80, 1 << kPgSlab); // a slab page is never buddy
  g.set_mapcount(96, kBuddy);
  g.set_private(96, 11); // order >= LENGTH(zone.free_area): kept
  g.set_mapcount(2048, kBuddy);
  g.set_private(2048, 10); // 1024 pages: a whole section
  auto r = run(g, 16);
  EXPECT_EQ(excluded_in(r, 64, 8), 8u);
  EXPECT_TRUE(r.dumpable.test(72));
  EXPECT_TRUE(r.dumpable.test(80));
  EXPECT_TRUE(r.dumpable.test(96));
  EXPECT_EQ(excluded_in(r, 2048, 1024), 1024u);
  EXPECT_EQ(r.excluded.free, 8u + 1024u);
  EXPECT_EQ(r.excluded.total(), r.excluded.free);
  EXPECT_EQ(run(g, 2).excluded.free, 0u);
}

TEST(PageFilter, CompoundPagesFromTheirHead) {
  Guest g = make_guest();
  // An anonymous THP (order 9) at PFN 512, a page-cache compound page (order 2) at 1024, and a
  // hugetlbfs page (order 9, dtor HUGETLB_PAGE_DTOR) at 1536.
  g.compound(512, 9, 0, 1);
  g.set_mapping(512, 0xffff888000002001ULL);
  g.compound(1024, 2, 1 << kPgLru, 1);
  g.compound(1536, 9, 0, 2);
  g.set_mapping(1536, 0xffff888000003000ULL);
  // Tail pages look anonymous on their own; they are decided by their head only.
  g.set_mapping(2560 + 1, 0x1);
  std::uint64_t fake_head = g.vmemmap() + 2560 * 64 + 1;
  std::memcpy(g.page(2561) + kCompoundHead, &fake_head, 8);
  auto r8 = run(g, 8);
  EXPECT_EQ(excluded_in(r8, 512, 512), 512u);
  EXPECT_EQ(excluded_in(r8, 1536, 512), 512u);
  EXPECT_TRUE(r8.dumpable.test(1024));
  EXPECT_TRUE(r8.dumpable.test(2561));
  EXPECT_EQ(r8.excluded.user, 1024u);
  auto r2 = run(g, 2);
  EXPECT_EQ(excluded_in(r2, 1024, 4), 4u);
  EXPECT_TRUE(r2.dumpable.test(1028));
  EXPECT_EQ(r2.excluded.cache, 4u);
  EXPECT_TRUE(r2.dumpable.test(512));
}

TEST(PageFilter, ThreadCountDoesNotChangeTheResult) {
  Guest g = make_guest();
  // A bit of every class in every section, and a gigantic hugetlbfs page (order 11) at PFN
  // 2048 that covers sections 2 and 3: with a thread per section its head's thread excludes
  // the tail pages of the next thread's section after both are done.
  for (std::uint64_t sec = 0; sec < 2; ++sec) {
    const std::uint64_t base = sec * kPagesPerSection;
    g.set_mapcount(base + 64, kBuddy);
    g.set_private(base + 64, 4);          // free, order 4
    g.set_flags(base + 200, 1 << kPgLru); // page cache
    g.set_mapping(base + 300, 0x1);       // anonymous
    g.compound(base + 512, 9, 0, 1);      // anonymous THP
    g.set_mapping(base + 512, 0xffff888000002001ULL);
  }
  g.compound(2048, 11, 0, 2);
  g.set_mapping(2048, 0xffff888000003000ULL);
  for (int level : {1, 2, 8, 16, 31}) {
    auto one = run(g, level, 1);
    for (unsigned threads : {2u, 3u, 4u, 8u}) {
      auto many = run(g, level, threads);
      EXPECT_TRUE(std::ranges::equal(many.dumpable.words(), one.dumpable.words()))
          << "level " << level << ", " << threads << " threads";
      EXPECT_EQ(many.excluded, one.excluded) << "level " << level << ", " << threads << " threads";
      EXPECT_EQ(many.fallback, one.fallback);
    }
    if ((level & 8) != 0) {
      EXPECT_EQ(excluded_in(one, 2048, 2048), 2048u);
      EXPECT_EQ(one.excluded.user, 2048u + 2 * (1u + 512u));
    }
  }
  // Progress reaches (sections, sections) whatever the thread count.
  test::TempDir dir;
  auto src = g.open(dir);
  std::uint64_t last_done = 0, last_total = 0;
  auto r = filter_pages(
      *src, 31,
      [&](std::uint64_t d, std::uint64_t t) {
        last_done = d;
        last_total = t;
      },
      4);
  ASSERT_TRUE(r);
  EXPECT_EQ(last_total, kRamPages / kPagesPerSection);
  EXPECT_EQ(last_done, last_total);
}

TEST(PageFilter, InvalidCompoundOrderCountsAsOnePage) {
  Guest g = make_guest();
  g.compound(516, 3, 0, 1); // 516 is not aligned to 8 pages
  g.set_mapping(516, 0x1);
  g.set_flags(600, kHeadMask); // order >= 64
  g.page(601)[kOrder] = 70;
  g.set_mapping(600, 0x1);
  // A head in the last slot of a 512-entry block: makedumpfile does not read its next page.
  g.set_flags(1023, kHeadMask);
  g.page(1024)[kOrder] = 0; // (1024 is the next section anyway)
  g.set_flags(511, kHeadMask);
  g.set_mapping(511, 0x1);
  g.page(512)[kOrder] = 9;
  auto r = run(g, 8);
  EXPECT_FALSE(r.dumpable.test(516));
  EXPECT_TRUE(r.dumpable.test(517));
  EXPECT_FALSE(r.dumpable.test(600));
  EXPECT_TRUE(r.dumpable.test(601));
  EXPECT_FALSE(r.dumpable.test(511));
  EXPECT_TRUE(r.dumpable.test(512));
  EXPECT_EQ(r.excluded.user, 3u);
}

TEST(PageFilter, OfflineAndHwpoisonWheneverTheScanRuns) {
  Guest g = make_guest();
  g.set_mapcount(300, kOffline);
  g.set_mapcount(301, kOffline);
  g.set_flags(301, 1 << kPgSlab); // slab: not offline
  g.set_flags(302, 1ULL << 23);   // PG_hwpoison once exported
  auto r2 = run(g, 2);
  EXPECT_FALSE(r2.dumpable.test(300));
  EXPECT_TRUE(r2.dumpable.test(301));
  EXPECT_TRUE(r2.dumpable.test(302));
  EXPECT_EQ(r2.excluded.offline, 1u);
  // Exporting NUMBER(PG_hwpoison) makes even -d 0 scan (makedumpfile's create_2nd_bitmap).
  g.extra["NUMBER(PG_hwpoison)"] = "23";
  auto r0 = run(g, 0);
  EXPECT_TRUE(r0.scanned);
  EXPECT_FALSE(r0.dumpable.test(300));
  EXPECT_FALSE(r0.dumpable.test(302));
  EXPECT_EQ(r0.excluded.hwpoison, 1u);
  EXPECT_EQ(r0.excluded.offline, 1u);
}

TEST(PageFilter, NewerKernelsOrderInFlags1AndPageTypes) {
  // 6.9+: hugetlb is a page type in _mapcount; the order is the low byte of page[1].flags.
  Guest g = make_guest();
  g.extra["OSRELEASE"] = "6.9.0";
  g.extra["OFFSET(page.compound_order)"] = "";
  g.extra["OFFSET(page.compound_dtor)"] = "";
  g.extra["NUMBER(HUGETLB_PAGE_DTOR)"] = "";
  g.extra["NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)"] = "-2049";
  g.set_flags(512, kHeadMask);
  g.set_flags(513, 9);
  g.set_mapcount(512, -2049);
  g.set_flags(1024, kHeadMask); // order 2, not hugetlb, not anon: kept
  g.set_flags(1025, 2);
  auto r = run(g, 8);
  EXPECT_EQ(excluded_in(r, 512, 512), 512u);
  EXPECT_TRUE(r.dumpable.test(1024));
  EXPECT_EQ(r.excluded.user, 512u);
  // 6.12+: PGTY_buddy << 24 with data in the low bits.
  Guest h = make_guest();
  h.extra["NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"] =
      std::to_string(static_cast<std::int32_t>(0xf0000000));
  h.set_mapcount(64, static_cast<std::int32_t>(0xf0000005));
  h.set_private(64, 2);
  auto rb = run(h, 16);
  EXPECT_EQ(excluded_in(rb, 64, 4), 4u);
  EXPECT_EQ(rb.excluded.free, 4u);
}

TEST(PageFilter, PagesPastTheLastMemMapAreDropped) {
  Guest g = make_guest();
  g.put64(kSectionArray + 3 * 16, 0); // section 3 has no mem_map
  auto r = run(g, 1);
  EXPECT_EQ(r.excluded.unmanaged, kPagesPerSection);
  EXPECT_EQ(r.dumpable.count(), 3 * kPagesPerSection);
  EXPECT_TRUE(r.fallback.empty());
}

TEST(PageFilterBadInput, MissingKeysKeepPagesAndSayWhich) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.set_mapcount(64, kBuddy);
  g.extra["OFFSET(page.mapping)"] = "";
  auto r = run(g, 31);
  EXPECT_EQ(r.dumpable.count(), kRamPages);
  EXPECT_NE(r.fallback.find("OFFSET(page.mapping)"), std::string::npos) << r.fallback;

  Guest f = make_guest();
  f.set_flags(100, 1 << kPgLru);
  f.set_mapcount(64, kBuddy);
  f.extra["NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"] = "";
  auto rf = run(f, 31);
  EXPECT_TRUE(rf.dumpable.test(64)); // free page kept
  EXPECT_FALSE(rf.dumpable.test(100));
  EXPECT_NE(rf.fallback.find("free pages kept"), std::string::npos) << rf.fallback;

  Guest c = make_guest();
  c.set_flags(100, 1 << kPgLru);
  c.extra["NUMBER(PG_lru)"] = "";
  auto rc = run(c, 2);
  EXPECT_TRUE(rc.dumpable.test(100));
  EXPECT_NE(rc.fallback.find("NUMBER(PG_lru)"), std::string::npos) << rc.fallback;

  Guest n = make_guest();
  n.extra["SYMBOL(init_top_pgt)"] = "";
  auto rn = run(n, 31);
  EXPECT_EQ(rn.dumpable.count(), kRamPages);
  EXPECT_NE(rn.fallback.find("init_top_pgt"), std::string::npos);
}

// Lying VMCOREINFO values: each is checked once when the rules are built, named with its value
// in the fallback reason, and only the rules that need it are switched off.
TEST(PageFilterBadInput, FlagsOffsetNearTwoToThe64KeepsEveryPage) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.set_mapcount(64, kBuddy);
  // 2^64 - 4: "+ 8" wraps to 4, inside SIZE(page), and the load would read before the buffer.
  g.extra["OFFSET(page.flags)"] = "18446744073709551612";
  auto r = run(g, 31);
  EXPECT_EQ(r.dumpable.count(), kRamPages);
  EXPECT_EQ(r.excluded.total(), 0u);
  EXPECT_NE(r.fallback.find("no page filtered"), std::string::npos) << r.fallback;
  EXPECT_NE(r.fallback.find("OFFSET(page.flags)=18446744073709551612"), std::string::npos)
      << r.fallback;
}

TEST(PageFilterBadInput, HugeStructPageSizeKeepsEveryPage) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.extra["SIZE(page)"] = "1099511627776";
  auto r = run(g, 31);
  EXPECT_EQ(r.dumpable.count(), kRamPages);
  EXPECT_NE(r.fallback.find("SIZE(page)=1099511627776"), std::string::npos) << r.fallback;
}

TEST(PageFilterBadInput, LyingPrivateOffsetSwitchesOffOnlyTheFreeRule) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.set_mapcount(64, kBuddy);
  g.set_private(64, 3);
  g.extra["OFFSET(page.private)"] = "18446744073709551608"; // 2^64 - 8: "+ 8" wraps to 0
  auto r = run(g, 31);
  EXPECT_EQ(excluded_in(r, 64, 8), 0u); // free pages kept
  EXPECT_FALSE(r.dumpable.test(100));   // the cache rule still runs
  EXPECT_EQ(r.excluded.cache, 1u);
  EXPECT_NE(r.fallback.find("OFFSET(page.private)=18446744073709551608"), std::string::npos)
      << r.fallback;
  EXPECT_NE(r.fallback.find("free pages kept"), std::string::npos) << r.fallback;
}

TEST(PageFilterBadInput, MapcountFieldPastStructPageSwitchesOffPageTypes) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.set_mapcount(64, kBuddy);
  g.set_mapcount(200, kOffline);
  g.extra["OFFSET(page._mapcount)"] = "62"; // a 4-byte field at 62 runs past SIZE(page)=64
  auto r = run(g, 31);
  EXPECT_TRUE(r.dumpable.test(64));
  EXPECT_TRUE(r.dumpable.test(200));
  EXPECT_FALSE(r.dumpable.test(100));
  EXPECT_NE(r.fallback.find("OFFSET(page._mapcount)=62: a 4-byte field there does not fit in "
                            "SIZE(page)=64"),
            std::string::npos)
      << r.fallback;
}

TEST(PageFilterBadInput, LyingCompoundOrderOffsetCountsOrderZero) {
  Guest g = make_guest();
  g.compound(512, 9, 0, 1); // anonymous THP
  g.set_mapping(512, 0xffff888000002001ULL);
  g.extra["OFFSET(page.compound_order)"] = "18446744073709551615"; // SIZE(page) + it wraps to 63
  auto r = run(g, 8);
  EXPECT_EQ(excluded_in(r, 512, 512), 1u); // the head alone
  EXPECT_NE(r.fallback.find("OFFSET(page.compound_order)=18446744073709551615"), std::string::npos)
      << r.fallback;
}

TEST(PageFilterBadInput, FreeAreaLengthBeyondSixtyFourIsIgnored) {
  Guest g = make_guest();
  g.set_mapcount(96, kBuddy);
  g.set_private(96, 70); // 1 << 70 would be undefined
  g.extra["LENGTH(zone.free_area)"] = "1099511627776";
  auto r = run(g, 16);
  EXPECT_TRUE(r.dumpable.test(96));
  EXPECT_NE(r.fallback.find("LENGTH(zone.free_area)=1099511627776"), std::string::npos)
      << r.fallback;
}

TEST(GuestKernelBadInput, MemSectionMapOffsetNearTwoToThe64IsAnError) {
  Guest g = make_guest();
  g.extra["OFFSET(mem_section.section_mem_map)"] = "18446744073709551612";
  test::TempDir dir;
  auto src = g.open(dir);
  auto k = GuestKernel::open(*src);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::kBadData);
  EXPECT_NE(k.error().message.find("OFFSET(mem_section.section_mem_map)=18446744073709551612"),
            std::string::npos)
      << k.error().message;
}

TEST(PageFilterBadInput, LyingPageTables) {
  // Root outside RAM.
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.extra["NUMBER(phys_base)"] = std::to_string(g.phys_base() + (1LL << 40));
  auto r = run(g, 31);
  EXPECT_EQ(r.dumpable.count(), kRamPages);
  EXPECT_NE(r.fallback.find("page-table root"), std::string::npos) << r.fallback;
  // phys_base off by a page: the root is RAM, but the tables do not map init_top_pgt onto it.
  Guest p = make_guest();
  p.extra["NUMBER(phys_base)"] = std::to_string(p.phys_base() + 0x2000);
  auto rp = run(p, 31);
  EXPECT_EQ(rp.dumpable.count(), kRamPages);
  EXPECT_FALSE(rp.fallback.empty());
  // A loop: the vmemmap's PMD entry points back at the root table. The walk is bounded; the
  // struct pages read are garbage or unreadable, and nothing hangs.
  Guest l = make_guest();
  std::uint64_t table = l.root();
  for (int shift = 39; shift > 21; shift -= 9) {
    table = l.get64(table + ((l.vmemmap() >> shift) & 0x1ff) * 8) & ~0xfffULL;
  }
  l.put64(table + ((l.vmemmap() >> 21) & 0x1ff) * 8, l.root() | 3);
  auto rl = run(l, 31);
  EXPECT_LE(rl.dumpable.count(), kRamPages);
}

TEST(PageFilterBadInput, StructPagePointersIntoHoles) {
  Guest g = make_guest();
  g.set_flags(100, 1 << kPgLru);
  g.set_flags(1600, 1 << kPgLru);
  // The vmemmap page holding struct pages 1536-1599 points outside RAM; so does section 2's
  // encoded mem_map (into unmapped vmemmap space).
  std::uint64_t va = g.vmemmap() + 1536 * 64;
  std::uint64_t table = g.root();
  for (int shift = 39; shift > 12; shift -= 9) {
    table = g.get64(table + ((va >> shift) & 0x1ff) * 8) & ~0xfffULL;
  }
  g.put64(table + ((va >> 12) & 0x1ff) * 8, (1ULL << 40) | 3);
  g.put64(kSectionArray + 2 * 16, (g.vmemmap() + (1ULL << 35)) | 3);
  auto r = run(g, 2);
  EXPECT_FALSE(r.dumpable.test(100)); // section 0 still filtered
  EXPECT_TRUE(r.dumpable.test(1600)); // its 512-page block is unreadable: kept
  EXPECT_EQ(r.pages_unfiltered, 512u + 1024u);
  EXPECT_NE(r.fallback.find("struct pages unreadable"), std::string::npos) << r.fallback;
  // A section whose mem_map is not a kernel address at all invalidates the table.
  Guest h = make_guest();
  h.put64(kSectionArray + 1 * 16, 0x1000 | 3);
  h.put64(kRootArray, h.page_offset() + kSectionArray);
  auto rh = run(h, 31);
  EXPECT_EQ(rh.dumpable.count(), kRamPages);
  EXPECT_NE(rh.fallback.find("mem_section"), std::string::npos) << rh.fallback;
}

TEST(PageFilterBadInput, NoVmcoreinfo) {
  test::TempDir dir;
  test::ElfCoreSpec spec;
  test::ElfSegment s;
  s.memsz = 64 * 4096;
  s.data.assign(s.memsz, 1);
  spec.loads = {s};
  test::write_file(dir.file("bare.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("bare.elf"));
  ASSERT_TRUE(src);
  auto r1 = filter_pages(**src, 1);
  ASSERT_TRUE(r1);
  EXPECT_TRUE(r1->fallback.empty());
  auto r31 = filter_pages(**src, 31);
  ASSERT_TRUE(r31);
  EXPECT_EQ(r31->dumpable.count(), 64u);
  EXPECT_NE(r31->fallback.find("VMCOREINFO"), std::string::npos);
}

TEST(FilterRecord, RoundTripAndNoteReplacement) {
  FilterRecord rec;
  rec.dump_level = 31;
  rec.excluded = {1, 2, 3, 4, 5, 6, 7};
  rec.pages_unfiltered = 9;
  rec.fallback = "free pages kept: x\ny";
  auto back = parse_filter_record(format_filter_record(rec));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->excluded, rec.excluded);
  EXPECT_EQ(back->pages_unfiltered, 9u);
  EXPECT_EQ(back->fallback, "free pages kept: x y");
  EXPECT_FALSE(parse_filter_record("excluded_cache=1\n")); // no level
  EXPECT_FALSE(parse_filter_record("dump_level=40\n"));    // out of range
  EXPECT_FALSE(parse_filter_record("dump_level=3\nexcluded_free=x\n"));
  EXPECT_TRUE(parse_filter_record("dump_level=3\nfuture_key=1\n"));

  std::vector<std::byte> notes;
  std::string vi = "OSRELEASE=x\n";
  append_note(notes, "VMCOREINFO", 0, std::as_bytes(std::span(vi)));
  ASSERT_TRUE(put_filter_note(notes, rec));
  rec.dump_level = 2;
  ASSERT_TRUE(put_filter_note(notes, rec));
  auto parsed = parse_notes(notes);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->size(), 2u);
  EXPECT_NE(find_vmcoreinfo(*parsed), nullptr);
  auto found = find_filter_note(notes);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->dump_level, 2);
}

} // namespace
} // namespace guestdump::kernel
