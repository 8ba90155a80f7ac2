// Writes the synthetic (binary) part of the committed seed corpus, fuzz/corpus/<target>/<name>:
//   fuzz_seeds DIR  (scripts/fuzz.sh --make-seeds runs it with DIR = fuzz/corpus)
// Guest-memory seeds carry x86_64 page tables (4- and 5-level, 1 GiB / 2 MiB / 4 KiB pages), an
// init_uts_ns and the three printk buffer layouts; file seeds are tiny ELF cores in the QEMU and
// /proc/vmcore shapes and their kdump conversions (every codec, plain and flattened); the kernel
// model seeds are 48 KiB guests with a mem_section table and struct pages of every class. Every
// seed stays under the fuzzers' 64 KiB input limit. The text targets' seeds are written by hand.

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "elf_core_builder.h"
#include "fuzz_support.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/convert.h"
#include "kernel_log_image.h"
#include "xen_core_builder.h"

namespace fs = std::filesystem;
using namespace guestdump;
using namespace guestdump::formats;
using namespace guestdump::kernel;
using testlog::GuestRam;
using testlog::hexs;
using testlog::kDirectMap;

namespace {

constexpr std::uint64_t kKernelMap = 0xffffffff80000000ULL;
int g_failures = 0;

void write_seed(const fs::path& dir, const std::string& name, std::string_view bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", (dir / name).c_str());
    ++g_failures;
  }
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

unsigned idx(std::uint64_t va, int shift) {
  return static_cast<unsigned>((va >> shift) & 0x1ff);
}

// Page tables mapping the direct map onto PA 0, and the VMCOREINFO lines that find them.
// kind 0: 4-level, 1 GiB page; 1: 4-level, 2 MiB page; 2: 4-level, 4 KiB pages for the first
// 64 KiB; 3: 5-level, 1 GiB page.
std::string map_direct(GuestRam& ram, int kind) {
  const std::uint64_t root = 0x1000;
  std::uint64_t pml4 = root;
  if (kind == 3) {
    ram.put_val<std::uint64_t>(root + idx(kDirectMap, 48) * 8, 0x4000 | 3);
    pml4 = 0x4000;
  }
  ram.put_val<std::uint64_t>(pml4 + idx(kDirectMap, 39) * 8, 0x2000 | 3);
  if (kind == 0 || kind == 3) {
    ram.put_val<std::uint64_t>(0x2000 + idx(kDirectMap, 30) * 8, 0x80 | 3);
  } else {
    ram.put_val<std::uint64_t>(0x2000 + idx(kDirectMap, 30) * 8, 0x3000 | 3);
    if (kind == 1) {
      ram.put_val<std::uint64_t>(0x3000 + idx(kDirectMap, 21) * 8, 0x80 | 3);
    } else {
      ram.put_val<std::uint64_t>(0x3000 + idx(kDirectMap, 21) * 8, 0x4000 | 3);
      for (std::uint64_t i = 0; i < 16; ++i)
        ram.put_val<std::uint64_t>(0x4000 + i * 8, (i << 12) | 3);
    }
  }
  std::string vi = "SYMBOL(init_top_pgt)=" + hexs(kKernelMap + root) + "\nNUMBER(phys_base)=0\n";
  if (kind == 3) vi += "NUMBER(pgtable_l5_enabled)=1\n";
  return vi;
}

// struct uts_namespace at PA 0x5000: a 4-byte kref, then six 65-byte strings.
std::string put_utsname(GuestRam& ram) {
  const char* f[6] = {"Linux", "fuzzhost", "6.1.0-fuzz", "#1 SMP", "x86_64", "(none)"};
  for (int i = 0; i < 6; ++i) ram.put_str(0x5000 + 4 + i * 65, f[i]);
  ram.put_val<char>(0x5000 + 4 + 6 * 65, 0);
  return "OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=" + hexs(kDirectMap + 0x5000) +
         "\nOFFSET(uts_namespace.name)=4\n";
}

void memory_seeds(const fs::path& out) {
  for (int kind = 0; kind < 4; ++kind) {
    // printk ring buffer with wrapped ids and text
    {
      GuestRam ram(0x6000);
      std::string vi = put_utsname(ram) + map_direct(ram, kind);
      testlog::PrbBuilder prb(ram, 0x6000, 3, 9, 100, 512 * 3 + 300);
      for (int i = 0; i < 11; ++i) {
        prb.add(i == 5 ? std::string("multi\nline \x01\xc3") : "record " + std::to_string(i),
                static_cast<std::uint64_t>(i) * 1'000'000'123ULL);
      }
      prb.add_dataless(99);
      prb.finish();
      vi += prb.vmcoreinfo();
      auto in = fuzz::make_memory_input(vi, ram.bytes());
      // Every paging shape for the walker; the log reader needs only two of them.
      if (kind == 0 || kind == 3) write_seed(out / "kernel_log", "prb-" + std::to_string(kind), in);
      write_seed(out / "translator", "prb-" + std::to_string(kind), in);
    }
    if (kind != 0) continue;
    // 3.5 - 5.9 record buffer and < 3.5 character buffer (1 GiB mapping)
    {
      GuestRam ram(0x6000);
      std::string vi = put_utsname(ram) + map_direct(ram, 0);
      testlog::RecordLogBuilder b(ram, 0x6000, 512);
      auto second = b.add("first", 1);
      for (int i = 0; i < 12; ++i) b.add("record " + std::to_string(i), 1000 + i, "DEVICE=x");
      b.set_first(second);
      b.finish();
      vi += b.vmcoreinfo();
      write_seed(out / "kernel_log", "records", fuzz::make_memory_input(vi, ram.bytes()));
    }
    {
      GuestRam ram(0x6000);
      std::string vi = put_utsname(ram) + map_direct(ram, 0);
      vi += testlog::legacy_log(ram, 0x6000, 256, "<6>hello\n<4>a longer line of old log text\n");
      write_seed(out / "kernel_log", "text", fuzz::make_memory_input(vi, ram.bytes()));
    }
  }
}

void vmcoreinfo_seeds(const fs::path& out) {
  GuestRam ram(0x8000);
  testlog::PrbBuilder prb(ram, 0x6000, 3, 9);
  write_seed(out / "vmcoreinfo", "prb",
             "OSRELEASE=6.1.0-56-cloud-amd64\nPAGESIZE=4096\n" + prb.vmcoreinfo());
  write_seed(out / "vmcoreinfo", "numbers",
             "NUMBER(phys_base)=-2097152\nNUMBER(VMALLOC_START)=0xffffc90000000000\n"
             "KERNELOFFSET=1a000000\nCRASHTIME=1700000000\nSYMBOL(init_top_pgt)=ffffffff9b00a000\n"
             "NUMBER(pgtable_l5_enabled)=1\nNUMBER(sme_mask)=0\nLENGTH(mem_section)=2048\n"
             "CONFIG_X86_PAE=y\nBUILD-ID=0123abcd\n\0\0");
}

test::ElfCoreSpec small_spec(const std::string& vmcoreinfo, std::vector<std::uint8_t> page0) {
  test::ElfCoreSpec spec;
  spec.notes = {test::make_prstatus_note(1, kKernelMap + 0x1000000),
                test::make_vmcoreinfo_note(vmcoreinfo)};
  test::ElfSegment low;
  low.memsz = 4 * 4096;
  low.data = std::move(page0);
  low.data.resize(3 * 4096, 0); // the 4th page has no file data
  auto p = test::make_page(7, 4096, true);
  std::copy(p.begin(), p.end(), low.data.begin() + 4096);
  test::ElfSegment high;
  high.paddr = 1 << 20;
  high.vaddr = 1 << 20;
  high.memsz = 4096;
  high.data = test::make_page(9, 4096, false);
  spec.loads = {low, high};
  return spec;
}

void file_seeds(const fs::path& out, const fs::path& tmp) {
  const std::string vi = "OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\nNUMBER(phys_base)=0\n";
  std::vector<std::uint8_t> page0(4096, 0);
  page0[100] = 1;
  std::vector<std::pair<std::string, test::ElfCoreSpec>> specs;
  specs.emplace_back("qemu72", small_spec(vi, page0));
  specs.back().second.phdrs_after_section_header = true;
  specs.emplace_back("vmcore", small_spec(vi, page0));
  specs.emplace_back("xnum", small_spec(vi, page0));
  specs.back().second.use_pn_xnum = true;
  specs.emplace_back("packed", small_spec(vi, page0));
  specs.back().second.data_alignment = 0;
  specs.emplace_back("elf32", small_spec(vi, page0));
  specs.back().second.elf64 = false;
  specs.back().second.machine = EM_386;
  for (auto& [name, spec] : specs) {
    auto bytes = test::build_elf_core(spec);
    write_seed(out / "elf_core", name,
               std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  // kdump conversions of the small core, every codec, plain and flattened.
  const fs::path elf = tmp / "small.elf";
  test::write_file(elf, test::build_elf_core(specs[1].second));
  for (const char* codec : {"zlib", "lzo", "snappy", "zstd", "none"}) {
    for (bool flat : {false, true}) {
      // Flattened once per compressed and uncompressed shape keeps the corpus small.
      if (flat && std::string_view(codec) != "zlib" && std::string_view(codec) != "none") continue;
      ConvertOptions o;
      o.input = elf;
      o.output = tmp / "small.kdump";
      o.codec = *parse_codec(codec);
      o.flattened = flat;
      o.threads = 1;
      auto r = convert(o);
      if (!r) {
        std::fprintf(stderr, "fuzz_seeds: convert (%s): %s\n", codec, r.error().message.c_str());
        ++g_failures;
        continue;
      }
      write_seed(out / "kdump_reader", std::string(codec) + (flat ? "-flat" : ""),
                 slurp(tmp / "small.kdump"));
    }
  }
  fs::remove(tmp / "small.kdump");
  fs::remove(elf);
}

// xc_core seeds: HVM and PV, with unused (~0) entries, an unsorted index and a PFN gap; one
// vCPU and no shared info page keep each under the fuzzer's 64 KiB input limit.
void xen_seeds(const fs::path& out) {
  struct Seed {
    const char* name;
    bool pv;
    std::vector<std::uint64_t> pfns;
  };
  const Seed seeds[] = {{"hvm", false, {0, 1, 2, 0x100000}},
                        {"hvm-unused", false, {0, 5, ~0ULL, ~0ULL}},
                        {"pv", true, {0, 1, 7}},
                        {"pv-unsorted", true, {9, 3, 4, ~0ULL}}};
  for (const Seed& s : seeds) {
    test::XenCoreSpec spec;
    spec.pv = s.pv;
    spec.pfns = s.pfns;
    spec.vcpus = 1;
    spec.shared_info = false;
    auto bytes = test::build_xen_core(spec);
    write_seed(out / "xen_core", s.name,
               std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  // PV with a kernel page-table tree from PFN 1 (the fuzz target's init_top_pgt) for the
  // rewrite to PFNs: a 4 KiB and a 2 MiB mapping, a frame the guest does not own, and an entry
  // naming the top table again from below.
  test::XenCoreSpec spec;
  spec.pv = true;
  spec.pfns = {0, 1, 2, 3, 4};
  spec.vcpus = 1;
  spec.shared_info = false;
  auto mfn = [](std::uint64_t pfn) { return (pfn + 0x40000) << 12; }; // the builder's default
  test::set_page_u64(spec, 1, 0x111, mfn(2) | 0x63);
  test::set_page_u64(spec, 1, 0x100, 0x99999000 | 0x63);
  test::set_page_u64(spec, 2, 0, mfn(3) | 0x63);
  test::set_page_u64(spec, 2, 511, mfn(1) | 0x63);
  test::set_page_u64(spec, 3, 0, mfn(4) | 0x63);
  test::set_page_u64(spec, 3, 1, 0x40000000 | 0xe3);
  test::set_page_u64(spec, 4, 5, mfn(0) | 0x63);
  test::set_page_u64(spec, 4, 6, 0x7777000 | 0x63);
  auto bytes = test::build_xen_core(spec);
  write_seed(out / "xen_core", "pv-tables",
             std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Locator seeds: a 48 KiB guest whose kernel text is mapped with 4 KiB pages (phys_base
// negative: _stext at PA 0x8000, init_uts_ns at 0x9000), its VMCOREINFO note at a page start, and
// one or two QEMU CPU notes.
void locator_seeds(const fs::path& out) {
  constexpr std::uint64_t kRoot = 0x1000, kText = 0x8000, kUts = 0x9000, kNote = 0xa000;
  const std::uint64_t stext = 0xffffffff81000000ULL;
  const auto phys_base =
      static_cast<std::int64_t>(kText) - static_cast<std::int64_t>(stext - kKernelMap);
  std::vector<std::uint8_t> ram(48u << 10, 0);
  auto put64 = [&](std::uint64_t pa, std::uint64_t v) { std::memcpy(ram.data() + pa, &v, 8); };
  put64(kRoot + idx(stext, 39) * 8, 0x2000 | 3);
  put64(0x2000 + idx(stext, 30) * 8, 0x3000 | 3);
  put64(0x3000 + idx(stext, 21) * 8, 0x4000 | 3);
  put64(0x4000 + idx(stext, 12) * 8, kText | 3);
  put64(0x4000 + idx(stext + 0x1000, 12) * 8, kUts | 3);
  const std::string release = "6.1.0-fuzz";
  std::memcpy(ram.data() + kUts + 130, release.data(), release.size());
  const std::string text = "OSRELEASE=" + release +
                           "\nPAGESIZE=4096\nSYMBOL(_stext)=" + hexs(stext) +
                           "\nSYMBOL(init_uts_ns)=" + hexs(stext + 0x1000) +
                           "\nOFFSET(uts_namespace.name)=0\nSYMBOL(init_top_pgt)=" +
                           hexs(kRoot - static_cast<std::uint64_t>(phys_base) + kKernelMap) +
                           "\nNUMBER(phys_base)=" + std::to_string(phys_base) + "\n";
  const std::uint32_t hdr[3] = {11, static_cast<std::uint32_t>(text.size()), 0};
  std::memcpy(ram.data() + kNote, hdr, 12);
  std::memcpy(ram.data() + kNote + 12, "VMCOREINFO\0\0", 12);
  std::memcpy(ram.data() + kNote + 24, text.data(), text.size());
  auto qemu_note = [](std::uint64_t cr3) {
    std::vector<std::byte> desc(432);
    const std::uint64_t cr0 = 0x80050033, cr4 = 0x20;
    std::memcpy(desc.data() + 392, &cr0, 8);
    std::memcpy(desc.data() + 416, &cr3, 8);
    std::memcpy(desc.data() + 424, &cr4, 8);
    return desc;
  };
  for (int cpus = 1; cpus <= 2; ++cpus) {
    std::vector<std::byte> notes;
    for (int i = 0; i < cpus; ++i) append_note(notes, "QEMU", 0, qemu_note(kRoot | (i ? 0x8 : 0)));
    const std::string blob(reinterpret_cast<const char*>(notes.data()), notes.size());
    write_seed(out / "locator", "cpus-" + std::to_string(cpus),
               fuzz::make_memory_input(blob, std::as_bytes(std::span(ram))));
  }
}

// The struct page layout and numbers of Debian's 6.1 kernel (as in page_filter_test.cpp).
constexpr std::uint64_t kSpFlags = 0, kSpHead = 8, kSpDtor = 16, kSpOrder = 17, kSpMapping = 24,
                        kSpMapcount = 48;
const char* const kPageVmcoreinfo = "SIZE(page)=64\nOFFSET(page.flags)=0\n"
                                    "OFFSET(page._refcount)=52\nOFFSET(page.mapping)=24\n"
                                    "OFFSET(page.lru)=8\nOFFSET(page._mapcount)=48\n"
                                    "OFFSET(page.private)=40\nOFFSET(page.compound_dtor)=16\n"
                                    "OFFSET(page.compound_order)=17\n"
                                    "OFFSET(page.compound_head)=8\nLENGTH(zone.free_area)=11\n"
                                    "NUMBER(PG_lru)=4\nNUMBER(PG_private)=13\n"
                                    "NUMBER(PG_swapcache)=10\nNUMBER(PG_swapbacked)=19\n"
                                    "NUMBER(PG_slab)=9\nNUMBER(PG_hwpoison)=23\n"
                                    "NUMBER(PG_head_mask)=65536\n"
                                    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
                                    "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257\n"
                                    "NUMBER(HUGETLB_PAGE_DTOR)=2\n";

// `n` struct pages of 64 bytes, `vmemmap` being the VA of the first: a free (buddy) page, page
// cache with and without private data, anonymous, slab, offline, hwpoison, a compound page of
// order 1 and a hugetlb one of order 1.
std::vector<std::uint8_t> struct_pages(std::size_t n, std::uint64_t vmemmap) {
  std::vector<std::uint8_t> sp(n * 64, 0);
  auto put = [&](std::size_t pfn, std::uint64_t off, auto v) {
    if (pfn < n) std::memcpy(sp.data() + pfn * 64 + off, &v, sizeof v);
  };
  put(1, kSpMapcount, std::int32_t{-129});
  put(2, kSpFlags, std::uint64_t{1} << 4);
  put(2, kSpMapping, vmemmap + 0x100000);
  put(3, kSpFlags, (std::uint64_t{1} << 4) | (std::uint64_t{1} << 13));
  put(3, kSpMapping, vmemmap + 0x100000);
  put(4, kSpFlags, std::uint64_t{1} << 4);
  put(4, kSpMapping, vmemmap + 0x100001); // anon bit
  put(5, kSpFlags, std::uint64_t{1} << 9);
  put(6, kSpMapcount, std::int32_t{-257});
  put(7, kSpFlags, std::uint64_t{1} << 23);
  for (std::size_t head : {8, 10}) {
    put(head, kSpFlags, std::uint64_t{1} << 16);
    put(head + 1, kSpOrder, std::uint8_t{1});
    put(head + 1, kSpDtor, static_cast<std::uint8_t>(head == 10 ? 2 : 1));
    put(head + 1, kSpHead, vmemmap + head * 64 + 1);
  }
  return sp;
}

void page_filter_seeds(const fs::path& out) {
  const std::uint64_t vmemmap = 0xffffea0000000000ULL;
  struct Seed {
    const char* name;
    const char* release;
    std::uint8_t level;
  };
  for (const Seed& s : {Seed{"6.1-d31", "6.1.0-56-cloud-amd64", 31}, Seed{"6.1-d1", "6.1.0", 1},
                        Seed{"4.19-d31", "4.19.0-27-amd64", 31}, Seed{"3.10-d17", "3.10.0", 17}}) {
    std::string vi = std::string("OSRELEASE=") + s.release + "\nPAGESIZE=4096\n" + kPageVmcoreinfo;
    auto pages = struct_pages(16, vmemmap);
    pages.insert(pages.begin(), s.level);
    write_seed(out / "page_filter", s.name,
               fuzz::make_memory_input(vi, std::as_bytes(std::span(pages))));
  }
}

// A 48 KiB 4-level guest: page tables at 0x1000-0x6fff (kernel text and direct map in 1 GiB
// pages, the vmemmap in 4 KiB pages onto the struct pages at 0x7000), the mem_section root array
// at 0x8000 and the sections at 0x9000.
void guest_kernel_seeds(const fs::path& out) {
  const std::uint64_t vmemmap = 0xffffea0000000000ULL;
  for (int variant = 0; variant < 3; ++variant) {
    GuestRam ram(0xc000);
    ram.put_val<std::uint64_t>(0x1000 + idx(kKernelMap, 39) * 8, 0x2000 | 3);
    ram.put_val<std::uint64_t>(0x2000 + idx(kKernelMap, 30) * 8, 0x80 | 3);
    ram.put_val<std::uint64_t>(0x1000 + idx(kDirectMap, 39) * 8, 0x3000 | 3);
    ram.put_val<std::uint64_t>(0x3000 + idx(kDirectMap, 30) * 8, 0x80 | 3);
    ram.put_val<std::uint64_t>(0x1000 + idx(vmemmap, 39) * 8, 0x4000 | 3);
    ram.put_val<std::uint64_t>(0x4000 + idx(vmemmap, 30) * 8, 0x5000 | 3);
    ram.put_val<std::uint64_t>(0x5000 + idx(vmemmap, 21) * 8, 0x6000 | 3);
    ram.put_val<std::uint64_t>(0x6000 + idx(vmemmap, 12) * 8, 0x7000 | 3);
    auto pages = struct_pages(12, vmemmap);
    for (std::size_t i = 0; i < pages.size(); ++i) ram.put_val<std::uint8_t>(0x7000 + i, pages[i]);
    // variant 0: SPARSEMEM_EXTREME (root array); 1: a flat mem_section array (LENGTH given);
    // 2: extreme, the middle section absent.
    const std::uint64_t sections = variant == 1 ? 0x8000 : 0x9000;
    if (variant != 1) ram.put_val<std::uint64_t>(0x8000, kDirectMap + sections);
    for (std::uint64_t s = 0; s < 3; ++s) {
      if (variant == 2 && s == 1) continue;
      ram.put_val<std::uint64_t>(sections + s * 16, vmemmap | 3);
    }
    std::string vi = "OSRELEASE=6.1.0-56-cloud-amd64\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=" +
                     hexs(kKernelMap + 0x1000) +
                     "\nNUMBER(phys_base)=0\nKERNELOFFSET=0\nNUMBER(pgtable_l5_enabled)=0\n"
                     "SYMBOL(mem_section)=" +
                     hexs(kDirectMap + 0x8000) +
                     "\nSIZE(mem_section)=16\nOFFSET(mem_section.section_mem_map)=0\n"
                     "NUMBER(MAX_PHYSMEM_BITS)=46\n"
                     "NUMBER(sme_mask)=0\n" +
                     std::string(kPageVmcoreinfo);
    // SECTION_SIZE_BITS 21 (one section: the filter's 512-page batches fit), or 14 for the
    // variant with the middle section absent.
    vi += variant == 2 ? "NUMBER(SECTION_SIZE_BITS)=14\n" : "NUMBER(SECTION_SIZE_BITS)=21\n";
    if (variant == 1) vi += "LENGTH(mem_section)=33554432\n";
    write_seed(out / "guest_kernel", "guest-" + std::to_string(variant),
               fuzz::make_memory_input(vi, ram.bytes()));
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  // convert() warns about the tiny core's missing utsname; that is expected here.
  set_log_sink([](LogLevel, std::string_view, std::string_view) {});
  const fs::path out = argv[1];
  const fs::path tmp = out / ".tmp";
  fs::create_directories(tmp);
  memory_seeds(out);
  vmcoreinfo_seeds(out);
  file_seeds(out, tmp);
  xen_seeds(out);
  locator_seeds(out);
  page_filter_seeds(out);
  guest_kernel_seeds(out);
  fs::remove_all(tmp);
  return g_failures == 0 ? 0 : 1;
}
