#include "guestdump/formats/xen_core.h"

#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/convert.h"
#include "guestdump/kernel/kernel_memory.h"
#include "temp_dir.h"
#include "xen_core_builder.h"

namespace guestdump::formats {

// The spool and the Xen reader are checked end to end through the converter.
using namespace guestdump::kernel;

namespace {

constexpr std::uint64_t kInvalid = ~0ULL;

std::uint64_t u64_at(std::span<const std::byte> b, std::size_t off) {
  std::uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}

// Low RAM with the VGA hole, and a gap up to 4 GiB (RAM above the MMIO hole).
std::vector<std::uint64_t> hvm_pfns() {
  std::vector<std::uint64_t> p;
  for (std::uint64_t i = 0; i < 0xa0; ++i) p.push_back(i);
  for (std::uint64_t i = 0xc0; i < 0x110; ++i) p.push_back(i);
  for (std::uint64_t i = 0x100000; i < 0x100020; ++i) p.push_back(i);
  return p;
}

std::unique_ptr<DumpSource> open_spec(const test::TempDir& dir, const test::XenCoreSpec& spec,
                                      const std::string& name = "xen.core") {
  test::write_file(dir.file(name), test::build_xen_core(spec));
  auto src = open_dump(dir.file(name));
  EXPECT_TRUE(src) << src.error().what();
  if (!src) throw std::runtime_error("open failed");
  return std::move(src).value();
}

void expect_pages(const DumpSource& src, const test::XenCoreSpec& spec) {
  auto reader = src.make_reader();
  std::vector<std::byte> scratch(4096);
  for (std::uint64_t pfn : spec.pfns) {
    if (pfn == kInvalid) continue;
    auto p = reader->read(pfn, scratch);
    ASSERT_TRUE(p) << p.error().what();
    for (std::size_t i = 0; i < 4096; ++i) {
      std::uint8_t want = spec.zero_pfns.count(pfn) ? 0 : test::xen_page_byte(pfn, i);
      ASSERT_EQ(static_cast<std::uint8_t>((*p)[i]), want) << "pfn " << pfn << " byte " << i;
    }
  }
}

TEST(XenCore, HvmRamMapPagesAndCpuNotes) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pfns = hvm_pfns();
  spec.zero_pfns = {3, 0x100001};
  auto src = open_spec(dir, spec);
  const auto& m = src->metadata();
  EXPECT_EQ(m.format, "xc_core (HVM), Xen 4.17");
  EXPECT_EQ(m.max_pfn, 0x100020u);
  EXPECT_EQ(m.ram.count(), spec.pfns.size());
  EXPECT_TRUE(m.ram.test(0x9f));
  EXPECT_FALSE(m.ram.test(0xa0)); // VGA hole
  EXPECT_FALSE(m.ram.test(0xfffff));
  EXPECT_TRUE(m.ram.test(0x100000));
  EXPECT_EQ(m.available.count(), m.ram.count());
  EXPECT_FALSE(m.vmcoreinfo);
  EXPECT_EQ(m.nr_cpus, 2);
  expect_pages(*src, spec);

  auto notes = parse_notes(m.notes);
  ASSERT_TRUE(notes);
  std::vector<NoteView> core, qemu;
  for (const auto& n : *notes) {
    if (n.name == "CORE" && n.type == kNtPrstatus) core.push_back(n);
    if (n.name == "QEMU") qemu.push_back(n);
  }
  ASSERT_EQ(core.size(), 2u);
  ASSERT_EQ(qemu.size(), 2u);
  for (int c = 0; c < 2; ++c) {
    auto pr = core[static_cast<std::size_t>(c)].desc;
    ASSERT_EQ(pr.size(), kPrstatusSize);
    std::uint32_t pid;
    std::memcpy(&pid, pr.data() + 32, 4);
    EXPECT_EQ(pid, static_cast<std::uint32_t>(c + 1));
    // pr_reg: r15 (Xen's first GPR) .. rdi, orig_rax, rip, cs, eflags, rsp, ss, fs_base, gs_base
    for (int i = 0; i < 15; ++i) {
      EXPECT_EQ(u64_at(pr, 112 + 8 * static_cast<std::size_t>(i)), test::xen_test_gpr(c, i));
    }
    EXPECT_EQ(u64_at(pr, 112 + 16 * 8), test::xen_test_rip(c));
    EXPECT_EQ(u64_at(pr, 112 + 17 * 8), 0x10u);
    EXPECT_EQ(u64_at(pr, 112 + 18 * 8), 0x246u);
    EXPECT_EQ(u64_at(pr, 112 + 20 * 8), 0x18u);
    EXPECT_EQ(u64_at(pr, 112 + 22 * 8), 0xffff888000000000ULL + 0x1000u * c); // CPL 0: kernel GS

    auto q = qemu[static_cast<std::size_t>(c)].desc;
    ASSERT_EQ(q.size(), kQemuCpuStateSize);
    EXPECT_EQ(u64_at(q, 8), test::xen_test_gpr(c, 10));        // rax
    EXPECT_EQ(u64_at(q, 8 + 1 * 8), test::xen_test_gpr(c, 5)); // rbx
    EXPECT_EQ(u64_at(q, 8 + 8 * 8), test::xen_test_gpr(c, 9)); // r8
    EXPECT_EQ(u64_at(q, 8 + 16 * 8), test::xen_test_rip(c));
    std::uint32_t cs_flags;
    std::memcpy(&cs_flags, q.data() + 152 + 8, 4);
    EXPECT_NE(cs_flags & (1u << 21), 0u); // long mode
    EXPECT_EQ(u64_at(q, 392 + 3 * 8), test::xen_test_cr3(c));
    EXPECT_EQ(u64_at(q, 392), 0x80050033u);
  }
}

TEST(XenCore, PvIndexedByPseudoPhysicalPfnWithoutQemuNotes) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pv = true;
  spec.pfns = {0, 1, 2, 5, 6, 7, 200};
  spec.gmfns = {0x9000, 0x12, 0x7, 0x8000, 0x3, 0x4, 0x1};
  auto src = open_spec(dir, spec);
  const auto& m = src->metadata();
  EXPECT_EQ(m.format, "xc_core (PV), Xen 4.17");
  EXPECT_EQ(m.max_pfn, 201u);
  EXPECT_EQ(m.ram.count(), 7u);
  EXPECT_FALSE(m.ram.test(0x9000)); // machine frames are not PFNs
  expect_pages(*src, spec);
  auto notes = parse_notes(m.notes);
  ASSERT_TRUE(notes);
  EXPECT_EQ(count_prstatus(*notes), 2);
  for (const auto& n : *notes) EXPECT_NE(n.name, "QEMU"); // PV CR3 is a machine address
}

// A PV guest's page tables hold machine frames: the reader maps them back to the pseudo-physical
// frames the dump is indexed by, and the kernel's page-table walk follows them (4 KiB and a
// 2 MiB page, whose machine frames are contiguous but whose PFNs are not). Without the map the
// walk read machine frame numbers as PFNs (a real `xl dump-core` gave no VMCOREINFO).
TEST(XenCore, PvPageTablesHoldMachineFramesThatWalksTranslate) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pv = true;
  auto mfn = [](std::uint64_t pfn) { return 0x600 + (15 - pfn); }; // 0x600..0x60f, reversed
  for (std::uint64_t pfn = 0; pfn < 16; ++pfn) {
    spec.pfns.push_back(pfn);
    spec.gmfns.push_back(mfn(pfn));
  }
  auto set = [&](std::uint64_t pfn, std::uint64_t index, std::uint64_t entry) {
    test::set_page_u64(spec, pfn, index, entry);
  };
  auto idx = [](std::uint64_t va, int shift) { return (va >> shift) & 0x1ff; };
  const std::uint64_t va4k = 0xffff888000005000ULL;
  const std::uint64_t va2m = 0xffff888000200000ULL;
  const std::uint64_t va_foreign = 0xffff888000006000ULL;
  set(1, idx(va4k, 39), mfn(2) << 12 | 3); // init_top_pgt at PFN 1 (phys_base 0)
  set(2, idx(va4k, 30), mfn(3) << 12 | 3);
  set(3, idx(va4k, 21), mfn(4) << 12 | 3);
  set(3, idx(va2m, 21), 0x600000 | 0x83); // 2 MiB page on machine frames 0x600..0x7ff
  set(4, idx(va4k, 12), mfn(10) << 12 | 3);
  set(4, idx(va_foreign, 12), 0x7777000 | 3); // a frame the guest does not own
  auto src = open_spec(dir, spec);
  const auto* m2p = src->metadata().machine_frames.get();
  ASSERT_NE(m2p, nullptr);
  EXPECT_EQ(m2p->size(), 16u);
  EXPECT_EQ(m2p->pfn(0x60f), 0u);
  EXPECT_FALSE(m2p->pfn(0xf)); // a PFN is not a machine frame

  auto vi = VmcoreInfo::parse("PAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\n");
  auto t = kernel::X86_64Translator::from_vmcoreinfo(vi);
  ASSERT_TRUE(t) << t.error().what();
  kernel::PhysicalMemory mem(*src);
  auto pa = t->translate(mem, va4k + 0x123);
  ASSERT_TRUE(pa) << pa.error().what();
  EXPECT_EQ(*pa, 10u * 4096 + 0x123);
  pa = t->translate(mem, va2m + 0x3123); // machine frame 0x603 = PFN 12
  ASSERT_TRUE(pa) << pa.error().what();
  EXPECT_EQ(*pa, 12u * 4096 + 0x123);
  pa = t->translate(mem, va_foreign);
  ASSERT_FALSE(pa);
  EXPECT_NE(pa.error().message.find("machine frame 0x7777 is not the guest's"), std::string::npos)
      << pa.error().message;

  // The output keeps the map (a GUESTDUMP note), so it walks the same way when read again:
  // without it, guestdump could not read a PV guest's kernel log from its own output.
  for (const char* kind : {"kdump", "elf"}) {
    ConvertOptions opts;
    opts.input = dir.file("xen.core");
    opts.output = dir.file(std::string("out.") + kind);
    opts.dump_level = 0;
    if (std::string(kind) == "elf") opts.format = OutputFormat::kElf;
    auto r = convert(opts);
    ASSERT_TRUE(r) << kind << ": " << r.error().what();
    auto out = open_dump(opts.output);
    ASSERT_TRUE(out) << kind << ": " << out.error().what();
    const auto* again = (*out)->metadata().machine_frames.get();
    ASSERT_NE(again, nullptr) << kind;
    EXPECT_EQ(again->size(), 16u);
    kernel::PhysicalMemory out_mem(**out);
    pa = t->translate(out_mem, va2m + 0x3123);
    ASSERT_TRUE(pa) << kind << ": " << pa.error().what();
    EXPECT_EQ(*pa, 12u * 4096 + 0x123) << kind;
  }

  // HVM dumps have no map: their page tables hold guest-physical frames.
  test::XenCoreSpec hvm;
  hvm.pfns = hvm_pfns();
  EXPECT_EQ(open_spec(dir, hvm, "hvm.core")->metadata().machine_frames, nullptr);
}

// The machine-frame note of an output file, as another program (or a hostile file) might
// write it: runs that overlap, run past 2^40 frames or are empty are refused with a warning and
// no map; a good one is read as runs.
TEST(XenCore, MachineFrameNoteIsCheckedBeforeUse) {
  auto note = [](std::vector<std::uint64_t> words) {
    std::vector<std::byte> desc(words.size() * 8);
    std::memcpy(desc.data(), words.data(), desc.size());
    std::vector<std::byte> blob;
    append_note(blob, "GUESTDUMP", kMachineFramesNoteType, desc);
    return blob;
  };
  std::vector<std::string> warnings;
  auto good = machine_frames_from_notes(note({0x100, 0, 16, 0x50, 16, 4}), warnings);
  ASSERT_NE(good, nullptr);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(good->size(), 20u);
  EXPECT_EQ(good->pfn(0x10f), 15u);
  EXPECT_EQ(good->pfn(0x53), 19u);
  EXPECT_FALSE(good->pfn(0x110));
  EXPECT_FALSE(good->pfn(0x54));
  for (const auto& bad : {note({0x100, 0, 16, 0x10f, 16, 4}), // overlapping runs
                          note({0x100, 0, 0}),                // empty run
                          note({(1ULL << 40) - 1, 0, 2}),     // past 2^40 frames
                          note({0x100, ~0ULL, 1}),            // PFN past 2^40
                          note({0x100, 0})}) {                // not whole triples
    warnings.clear();
    EXPECT_EQ(machine_frames_from_notes(bad, warnings), nullptr);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("malformed"), std::string::npos) << warnings[0];
  }
  warnings.clear();
  EXPECT_EQ(machine_frames_from_notes({}, warnings), nullptr) << "no note, no map";
  EXPECT_TRUE(warnings.empty());
}

// A guest's p2m list naming one machine frame for two PFNs: that frame leaves the map (a walk
// through it would be ambiguous); the pages stay readable.
TEST(XenCore, PvMachineFrameClaimedTwiceIsLeftOutOfTheMap) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pv = true;
  spec.pfns = {0, 1, 2, 3};
  spec.gmfns = {0x10, 0x11, 0x11, 0x13};
  auto src = open_spec(dir, spec);
  const auto* m2p = src->metadata().machine_frames.get();
  ASSERT_NE(m2p, nullptr);
  EXPECT_EQ(m2p->size(), 2u);
  EXPECT_EQ(m2p->pfn(0x10), 0u);
  EXPECT_FALSE(m2p->pfn(0x11));
  EXPECT_EQ(m2p->pfn(0x13), 3u);
  expect_pages(*src, spec);
}

TEST(XenCore, TrailingUnusedEntriesAndUnsortedIndex) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pfns = {10, 4, 7, 0, 1, kInvalid, kInvalid, kInvalid};
  auto src = open_spec(dir, spec);
  const auto& m = src->metadata();
  EXPECT_EQ(m.ram.count(), 5u);
  EXPECT_EQ(m.max_pfn, 11u);
  expect_pages(*src, spec);

  test::XenCoreSpec pv = spec;
  pv.pv = true;
  auto psrc = open_spec(dir, pv, "pv.core");
  EXPECT_EQ(psrc->metadata().ram.count(), 5u);
  expect_pages(*psrc, pv);
}

TEST(XenCore, HeaderPageCountDisagreeingUsesTheSmallerCount) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pfns = {0, 1, 2, 3, 4, 5};
  spec.nr_pages = 4; // fewer than the sections hold
  auto src = open_spec(dir, spec);
  EXPECT_EQ(src->metadata().ram.count(), 4u);
  EXPECT_FALSE(src->metadata().ram.test(4));

  spec.nr_pages = 9; // more than the sections hold, but within the file's size
  auto more = open_spec(dir, spec, "more.core");
  EXPECT_EQ(more->metadata().ram.count(), 6u);
  expect_pages(*more, spec);

  // .xen_pages with surplus pages the index does not describe: ignored.
  spec.nr_pages.reset();
  spec.extra_pages = 3;
  auto extra = open_spec(dir, spec, "extra.core");
  EXPECT_EQ(extra->metadata().ram.count(), 6u);
}

TEST(XenCore, OfflineVcpuGetsNoNote) {
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pfns = {0, 1};
  spec.vcpus = 3;
  spec.offline_vcpus = {1};
  auto src = open_spec(dir, spec);
  EXPECT_EQ(src->metadata().nr_cpus, 2);
  auto notes = parse_notes(src->metadata().notes);
  ASSERT_TRUE(notes);
  ASSERT_GE(notes->size(), 2u);
  EXPECT_EQ(u64_at((*notes)[1].desc, 112 + 16 * 8), test::xen_test_rip(2));
}

TEST(XenCore, ElfCoresStillGoToTheElfReader) {
  test::TempDir dir;
  test::ElfCoreSpec spec;
  spec.loads.push_back({0, 0, 8192, test::make_page(1, 8192, true)});
  test::write_file(dir.file("q.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("q.elf"));
  ASSERT_TRUE(src) << src.error().what();
  EXPECT_EQ((*src)->metadata().format, "elf64");
}

struct BadCase {
  const char* name;
  void (*mutate)(test::XenCoreSpec&);
  const char* message; // expected fragment
  ErrorCode code = ErrorCode::kBadData;
};

const BadCase kBad[] = {
    {"truncated_pages", [](test::XenCoreSpec& s) { s.truncate_to = 6 * 4096 + 100; },
     "runs past the end of the file"},
    {"index_past_pages", [](test::XenCoreSpec& s) { s.missing_pages = 2; }, "holds only 6 pages"},
    {"absurd_nr_pages", [](test::XenCoreSpec& s) { s.nr_pages = 1ULL << 50; },
     "more than the file"},
    {"vcpus_lie", [](test::XenCoreSpec& s) { s.nr_vcpus = 64; }, "holds 2"},
    {"bad_magic", [](test::XenCoreSpec& s) { s.magic = 0x12345678; }, "neither PV nor HVM"},
    {"format_2", [](test::XenCoreSpec& s) { s.format_version = (1ULL << 32) | 0; },
     "format version 1.0 is not supported", ErrorCode::kUnsupported},
    {"no_format_note", [](test::XenCoreSpec& s) { s.format_version.reset(); },
     "no format version note"},
    {"page_size", [](test::XenCoreSpec& s) { s.page_size = 8192; }, "page size 8192",
     ErrorCode::kUnsupported},
    {"duplicate_pfn",
     [](test::XenCoreSpec& s) {
       s.pfns = {0, 1, 1, 2};
     },
     "twice"},
    {"pfn_beyond_52_bits", [](test::XenCoreSpec& s) { s.pfns.back() = 1ULL << 45; }, "52-bit"},
    {"pfn_far_away", [](test::XenCoreSpec& s) { s.pfns.back() = 1ULL << 39; }, "far beyond"},
    {"no_index", [](test::XenCoreSpec& s) { s.index_section = false; }, "neither"},
    {"both_indexes", [](test::XenCoreSpec& s) { s.both_indexes = true; }, "both"},
    {"i386", [](test::XenCoreSpec& s) { s.machine = EM_386; }, "32-bit PV",
     ErrorCode::kUnsupported},
    {"hvm_with_p2m", [](test::XenCoreSpec& s) { s.pv = true, s.magic = 0xF00FEBEEULL; },
     "HVM header note"},
    {"prstatus_size", [](test::XenCoreSpec& s) { s.prstatus_pad = 5; }, "whole number"},
    {"only_unused",
     [](test::XenCoreSpec& s) {
       s.pfns = {kInvalid, kInvalid};
     },
     "no pages"},
};

class XenCoreBad : public testing::TestWithParam<BadCase> {};

TEST_P(XenCoreBad, ClearErrorAndNoOutput) {
  const BadCase& c = GetParam();
  test::TempDir dir;
  test::XenCoreSpec spec;
  spec.pfns = {0, 1, 2, 3, 4, 5, 6, 7};
  c.mutate(spec);
  test::write_file(dir.file("bad.core"), test::build_xen_core(spec));
  auto src = open_dump(dir.file("bad.core"));
  ASSERT_FALSE(src) << c.name;
  EXPECT_EQ(src.error().code, c.code) << src.error().what();
  EXPECT_NE(src.error().message.find(c.message), std::string::npos) << src.error().what();

  ConvertOptions opts;
  opts.input = dir.file("bad.core");
  opts.output = dir.file("out.kdump");
  opts.dump_level = 1;
  auto r = convert(opts);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'" + opts.input + "'"), std::string::npos) << r.error().what();
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u); // only the input: no output, no temporary
}

INSTANTIATE_TEST_SUITE_P(Inputs, XenCoreBad, testing::ValuesIn(kBad),
                         [](const testing::TestParamInfo<BadCase>& i) { return i.param.name; });

// Converting keeps every page: the kdump file compares equal to the xc_core it came from.
TEST(XenCore, ConvertsAndVerifiesAgainstSource) {
  test::TempDir dir;
  for (bool pv : {false, true}) {
    test::XenCoreSpec spec;
    spec.pv = pv;
    spec.pfns = hvm_pfns();
    spec.pfns.push_back(kInvalid);
    spec.zero_pfns = {5, 6, 0x100010};
    test::write_file(dir.file("in.core"), test::build_xen_core(spec));
    for (int level : {0, 1}) {
      ConvertOptions opts;
      opts.input = dir.file("in.core");
      opts.output = dir.file("out.kdump");
      opts.dump_level = level;
      opts.threads = 2;
      auto r = convert(opts);
      ASSERT_TRUE(r) << r.error().what();
      EXPECT_EQ(r->pages_ram, spec.pfns.size() - 1);
      auto v = verify(opts.output, opts.input, nullptr);
      ASSERT_TRUE(v) << v.error().what();
      EXPECT_EQ(v->pages_compared, spec.pfns.size() - 1);
      auto info = inspect(opts.output);
      ASSERT_TRUE(info) << info.error().what();
      EXPECT_EQ(info->nr_cpus, 2);
      EXPECT_FALSE(info->has_vmcoreinfo);
    }
  }
}

} // namespace
} // namespace guestdump::formats
