#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/dump_source.h"
#include "temp_dir.h"
#include "test_images.h"

namespace guestdump::formats {
namespace {

std::unique_ptr<DumpSource> open_spec(const test::TempDir& dir, const test::ElfCoreSpec& spec) {
  std::string path = dir.file("core.elf");
  test::write_file(path, test::build_elf_core(spec));
  auto src = open_dump(path);
  EXPECT_TRUE(src) << src.error().what();
  if (!src) throw std::runtime_error("open failed");
  return std::move(src).value();
}

void expect_pages_match(const DumpSource& src, const test::ElfCoreSpec& spec) {
  auto reader = src.make_reader();
  std::vector<std::byte> scratch(4096);
  const auto& m = src.metadata();
  for (std::uint64_t pfn = m.available.next_set(0); pfn < m.max_pfn;
       pfn = m.available.next_set(pfn + 1)) {
    auto p = reader->read(pfn, scratch);
    ASSERT_TRUE(p) << p.error().what();
    ASSERT_EQ(std::memcmp(*p, testimg::expected_page(spec, pfn).data(), 4096), 0) << "pfn " << pfn;
  }
}

class ElfLayouts : public testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(ElfLayouts, RamMapNotesAndPages) {
  auto [elf64, qemu_layout] = GetParam();
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  spec.elf64 = elf64;
  spec.machine = elf64 ? EM_X86_64 : EM_386;
  spec.phdrs_after_section_header = qemu_layout;
  auto src = open_spec(dir, spec);
  const auto& m = src->metadata();
  EXPECT_EQ(m.format, elf64 ? "elf64" : "elf32");
  EXPECT_EQ(m.arch, elf64 ? KdumpArch::kX86_64 : KdumpArch::kI386);
  EXPECT_EQ(m.max_pfn, (4u << 20) / 4096 + 64);
  EXPECT_EQ(m.ram.count(), 256u + 64u);
  EXPECT_EQ(m.available.count(), 256u + 48u); // the last 16 pages have no file data
  EXPECT_TRUE(m.ram.test(1023 + 64));
  EXPECT_FALSE(m.available.test(1024 + 48));
  EXPECT_FALSE(m.ram.test(256)); // the hole
  EXPECT_EQ(m.nr_cpus, 2);
  ASSERT_TRUE(m.vmcoreinfo);
  EXPECT_EQ(m.vmcoreinfo->osrelease(), "6.1.0-test");
  expect_pages_match(*src, spec);
}

INSTANTIATE_TEST_SUITE_P(Variants, ElfLayouts, testing::Combine(testing::Bool(), testing::Bool()));

TEST(ElfCore, ExtendedNumberingWith70000Segments) {
  test::TempDir dir;
  test::ElfCoreSpec spec;
  spec.notes = {test::make_vmcoreinfo_note(testimg::kVmcoreinfo)};
  for (std::uint64_t i = 0; i < 70000; ++i) {
    test::ElfSegment s;
    s.paddr = i * 2 * 4096; // every other page: 70000 separate extents
    s.vaddr = s.paddr;
    s.memsz = 4096;
    if (i % 1000 == 0) s.data = test::make_page(i, 4096, true);
    spec.loads.push_back(std::move(s));
  }
  for (bool qemu_layout : {false, true}) {
    spec.phdrs_after_section_header = qemu_layout;
    auto src = open_spec(dir, spec);
    const auto& m = src->metadata();
    EXPECT_EQ(m.ram.count(), 70000u);
    EXPECT_EQ(m.available.count(), 70u);
    EXPECT_EQ(m.max_pfn, 69999u * 2 + 1);
    expect_pages_match(*src, spec);
  }
}

TEST(ElfCore, UnalignedSegmentEdgesAreAssembled) {
  test::TempDir dir;
  test::ElfCoreSpec spec;
  spec.notes = {test::make_vmcoreinfo_note(testimg::kVmcoreinfo)};
  test::ElfSegment a;
  a.paddr = 0;
  a.memsz = 4096 + 2048; // ends mid-page
  a.data = std::vector<std::uint8_t>(a.memsz, 0x11);
  test::ElfSegment b;
  b.paddr = 4096 + 2048; // continues the same page
  b.memsz = 4096 + 2048;
  b.data = std::vector<std::uint8_t>(b.memsz, 0x22);
  spec.loads = {a, b};
  auto src = open_spec(dir, spec);
  EXPECT_EQ(src->metadata().ram.count(), 3u);
  auto reader = src->make_reader();
  std::vector<std::byte> scratch(4096);
  auto p = reader->read(1, scratch);
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0], std::byte{0x11});
  EXPECT_EQ((*p)[2047], std::byte{0x11});
  EXPECT_EQ((*p)[2048], std::byte{0x22});
  EXPECT_EQ((*p)[4095], std::byte{0x22});
}

// --- bad input: every case is a clear kBadData/kUnsupported error, never a crash -------------

std::string error_of(const std::string& path) {
  auto r = open_dump(path);
  EXPECT_FALSE(r);
  return r ? std::string() : r.error().message;
}

TEST(ElfCoreBadInput, EmptyRandomTruncated) {
  test::TempDir dir;
  std::ofstream(dir.file("empty"));
  EXPECT_NE(error_of(dir.file("empty")).find("empty file"), std::string::npos);

  std::vector<std::uint8_t> junk(10000);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<std::uint8_t>(i * 7919 >> 3);
  test::write_file(dir.file("random"), junk);
  EXPECT_NE(error_of(dir.file("random")).find("unrecognised format"), std::string::npos);

  auto bytes = test::build_elf_core(testimg::guest_spec());
  for (std::size_t cut : {std::size_t{40}, std::size_t{200}, bytes.size() / 2, bytes.size() - 1}) {
    test::write_file(
        dir.file("trunc"),
        std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
    EXPECT_FALSE(error_of(dir.file("trunc")).empty()) << "cut at " << cut;
  }
}

TEST(ElfCoreBadInput, LoadPastEndOfFile) {
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  auto bytes = test::build_elf_core(spec);
  bytes.resize(bytes.size() - 4096); // the last PT_LOAD now ends past EOF
  test::write_file(dir.file("short"), bytes);
  auto msg = error_of(dir.file("short"));
  EXPECT_NE(msg.find("past the end of the file"), std::string::npos) << msg;
}

// 120 bytes: an ELF header and one PT_LOAD claiming a page just below 2^52 with no data. The
// PFN bitmaps would need 2 x 128 GiB; max_pfn is bounded by the pages the file holds plus the
// documented cap on holes (limits.h kMaxPfnHoles).
TEST(ElfCoreBadInput, TinyFileClaimingAPageAtTwoToThe52) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_paddr = (1ULL << 52) - 4096;
  ph.p_memsz = 4096;
  std::vector<std::uint8_t> bytes(sizeof eh + sizeof ph);
  std::memcpy(bytes.data(), &eh, sizeof eh);
  std::memcpy(bytes.data() + sizeof eh, &ph, sizeof ph);
  ASSERT_EQ(bytes.size(), 120u);
  test::TempDir dir;
  test::write_file(dir.file("tiny"), bytes);
  auto msg = error_of(dir.file("tiny"));
  EXPECT_NE(msg.find("PT_LOAD segments reach PFN 1099511627776 but hold 1 pages of data"),
            std::string::npos)
      << msg;

  // An honest sparse layout (RAM above 4 GiB, the MMIO hole between) still opens.
  test::ElfCoreSpec spec;
  test::ElfSegment low, high;
  low.memsz = 4096;
  low.data = test::make_page(1, 4096, true);
  high.paddr = 4ULL << 30;
  high.memsz = 4096;
  high.data = test::make_page(2, 4096, true);
  spec.loads = {low, high};
  test::write_file(dir.file("sparse"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("sparse"));
  ASSERT_TRUE(src) << src.error().what();
  EXPECT_EQ((*src)->metadata().max_pfn, (4ULL << 30) / 4096 + 1);
}

TEST(ElfCoreBadInput, OverlappingSegments) {
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  spec.loads[1].paddr = 512 << 10; // inside the first segment, different bytes
  test::write_file(dir.file("overlap"), test::build_elf_core(spec));
  auto msg = error_of(dir.file("overlap"));
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
}

TEST(ElfCore, ContainedIdenticalSegmentIsAnAlias) {
  // /proc/vmcore: the kernel-text PT_LOAD repeats bytes another PT_LOAD already holds.
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  test::ElfSegment alias;
  alias.paddr = 8 * 4096;
  alias.vaddr = 0xffffffff81000000ULL;
  alias.memsz = 4 * 4096;
  alias.data.assign(spec.loads[0].data.begin() + 8 * 4096, spec.loads[0].data.begin() + 12 * 4096);
  spec.loads.push_back(alias);
  auto src = open_spec(dir, spec);
  EXPECT_EQ(src->metadata().ram.count(), 256u + 64u);
}

// A kernel-text-like PT_LOAD of four pages holding `data`, first in the file, starting where the
// first RAM segment starts.
test::ElfCoreSpec with_segment_at_ram_start(std::vector<std::uint8_t> data) {
  auto spec = testimg::guest_spec();
  test::ElfSegment seg;
  seg.paddr = spec.loads[0].paddr;
  seg.vaddr = 0xffffffff81000000ULL;
  seg.memsz = 4 * 4096;
  seg.data = std::move(data);
  spec.loads.insert(spec.loads.begin(), seg);
  return spec;
}

TEST(ElfCore, AliasStartingWithItsSegmentIsAnAlias) {
  // /proc/vmcore of a KASLR kernel placed right after the crashkernel reservation: the
  // kernel-text PT_LOAD comes first and starts where the RAM PT_LOAD holding it starts.
  test::TempDir dir;
  const auto plain = testimg::guest_spec();
  const auto& ram = plain.loads[0].data;
  auto spec = with_segment_at_ram_start({ram.begin(), ram.begin() + 4 * 4096});
  auto src = open_spec(dir, spec);
  EXPECT_EQ(src->metadata().ram.count(), 256u + 64u);
  EXPECT_EQ(src->metadata().available.count(), 256u + 48u); // 16 high pages have no file data
  expect_pages_match(*src, plain);
}

TEST(ElfCoreBadInput, SegmentStartingWithAnotherButDifferentIsAnOverlap) {
  test::TempDir dir;
  auto spec = with_segment_at_ram_start(std::vector<std::uint8_t>(4 * 4096, 0x5a));
  test::write_file(dir.file("same-start"), test::build_elf_core(spec));
  auto msg = error_of(dir.file("same-start"));
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
}

} // namespace
} // namespace guestdump::formats
