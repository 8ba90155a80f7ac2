// Writes the seed corpus of every fuzz target from small synthetic inputs:
//   fuzz_seeds DIR  ->  DIR/<target>/seed-*
// Guest-memory seeds carry x86_64 page tables (4- and 5-level, 1 GiB / 2 MiB / 4 KiB pages), an
// init_uts_ns and the three printk buffer layouts; file seeds are tiny ELF cores in the QEMU and
// /proc/vmcore shapes and their kdump conversions (every codec, plain and flattened).

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
#include "guestdump/formats/convert.h"
#include "guestdump/formats/elf_notes.h"
#include "kernel_log_image.h"
#include "xen_core_builder.h"

namespace fs = std::filesystem;
using namespace guestdump;
using namespace guestdump::formats;
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
      write_seed(out / "kernel_log", "prb-" + std::to_string(kind), in);
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
}

// Locator seeds: a 4 MiB guest whose kernel image (one 2 MiB page at PA 2 MiB) holds its page
// tables and init_uts_ns, its VMCOREINFO note at a page start, and one or two QEMU CPU notes.
void locator_seeds(const fs::path& out) {
  constexpr std::uint64_t kImage = 0x200000, kRoot = 0x201000, kUts = 0x210000, kNote = 0x300000;
  const std::uint64_t stext = 0xffffffff81000000ULL + 0x1b400000ULL;
  const auto phys_base =
      static_cast<std::int64_t>(kImage) - static_cast<std::int64_t>(stext - kKernelMap);
  auto va = [&](std::uint64_t pa) {
    return pa - static_cast<std::uint64_t>(phys_base) + kKernelMap;
  };
  std::vector<std::uint8_t> ram(4u << 20, 0);
  auto put64 = [&](std::uint64_t pa, std::uint64_t v) { std::memcpy(ram.data() + pa, &v, 8); };
  put64(kRoot + ((stext >> 39) & 0x1ff) * 8, (kRoot + 0x1000) | 3);
  put64(kRoot + 0x1000 + ((stext >> 30) & 0x1ff) * 8, (kRoot + 0x2000) | 3);
  put64(kRoot + 0x2000 + ((stext >> 21) & 0x1ff) * 8, kImage | 0x83);
  const std::string release = "6.1.0-fuzz";
  std::memcpy(ram.data() + kUts + 130, release.data(), release.size());
  const std::string text =
      "OSRELEASE=" + release + "\nPAGESIZE=4096\nSYMBOL(_stext)=" + hexs(stext) +
      "\nSYMBOL(init_uts_ns)=" + hexs(va(kUts)) +
      "\nOFFSET(uts_namespace.name)=0\nSYMBOL(init_top_pgt)=" + hexs(va(kRoot)) +
      "\nNUMBER(phys_base)=" + std::to_string(phys_base) + "\nKERNELOFFSET=1b400000\n";
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
    for (int i = 0; i < cpus; ++i)
      append_note(notes, "QEMU", 0, qemu_note(kRoot | (i ? 0x1000 : 0)));
    const std::string blob(reinterpret_cast<const char*>(notes.data()), notes.size());
    write_seed(out / "locator", "cpus-" + std::to_string(cpus),
               fuzz::make_memory_input(blob, std::as_bytes(std::span(ram))));
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
  fs::remove_all(tmp);
  return g_failures == 0 ? 0 : 1;
}
