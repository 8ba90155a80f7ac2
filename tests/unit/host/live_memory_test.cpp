// The parsers of the live-memory path: HMP `info mtree -f` (where the guest places its BARs and
// ROMs) and /proc/PID/maps.

#include "live_memory.h"

#include <cstring>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

namespace guestdump::host::detail {
namespace {

constexpr const char* kHeader = "FlatView #0\n AS \"memory\", root: system\n"
                                " Root memory region: system\n";

TEST(LiveMemory, ParsesTheFlatViewOfMemory) {
  const std::string text =
      std::string(kHeader) +
      "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram KVM\n"
      "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
      "  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom @0000000000001000\n"
      "FlatView #1\n AS \"I/O\", root: io\n"
      "  0000000000000000-0000000000000007 (prio 0, ram): io.fake\n";
  auto r = parse_mtree_flat(text);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].gpa, 0u);
  EXPECT_EQ((*r)[0].size, 0xa0000u);
  EXPECT_EQ((*r)[0].block, "pc.ram");
  EXPECT_EQ((*r)[1].block, "pc.rom");
  EXPECT_EQ((*r)[1].block_offset, 0x1000u);
}

// A guest can move a 64-bit BAR anywhere: a range reaching 2^52 or covering the whole 64-bit
// space (whose size wraps to 0) is ignored, so no page bitmap is sized by it.
TEST(LiveMemory, IgnoresRangesBeyondThePhysicalAddressSpace) {
  const std::string text = std::string(kHeader) +
                           "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\n"
                           "  0000000000000000-ffffffffffffffff (prio 0, ram): evil.wrap\n"
                           "  0010000000000000-0010000000000fff (prio 0, ram): evil.top\n"
                           "  fffffffffffff000-ffffffffffffffff (prio 0, rom): evil.rom\n"
                           "  000ff00000000000-000ff00000000fff (prio 0, ram): evil.bar\n"
                           "  0000010000000000-0000010000000fff (prio 0, ram): ok.high\n";
  auto r = parse_mtree_flat(text);
  ASSERT_TRUE(r) << r.error().what();
  // evil.bar is below 2^52 but far beyond the guest's RAM plus 1 TiB of holes: a bitmap up to
  // it would be 2^40 bits.
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].block, "pc.ram");
  EXPECT_EQ((*r)[1].block, "ok.high");
  EXPECT_EQ((*r)[1].size, 0x1000u);
  EXPECT_FALSE(parse_mtree_flat(std::string(kHeader) +
                                "  0000000000000000-ffffffffffffffff (prio 0, ram): evil\n"));
}

// `info mtree -f` of QEMU 11.1.3 (Debian unstable) with the fixture guest booted (q35, 128 MiB;
// the I/O view cut short). Unlike 7.2, the I/O view comes first and has "container" entries;
// the "memory" view must still be found by its name and parse as 7.2's does, and the SMM view
// after it (the same ranges) must not count twice. The I/O view and the head of the memory view:
constexpr const char* kQemu11Head = R"(FlatView #0
 AS "I/O", root: io
 Root memory region: io
  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan
  0000000000000008-000000000000000f (prio 0, i/o): dma-cont
  0000000000000010-000000000000001f (prio 0, container): io @0000000000000010
  0000000000000020-0000000000000021 (prio 0, i/o): pic
  0000000000000022-000000000000003f (prio 0, container): io @0000000000000022
  0000000000000040-0000000000000043 (prio 0, i/o): pit
  0000000000000044-000000000000005f (prio 0, container): io @0000000000000044

FlatView #1
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 AS "cpu-memory-1", root: system
 AS "ich9-ahci", root: bus master container
 Root memory region: system
)";
// The ranges of the memory view; the SMM view (FlatView #2) lists the same ones.
constexpr const char* kQemu11Ranges = R"(  0000000000000000-00000000000c2fff (prio 0, ram): pc.ram
  00000000000c3000-00000000000e7fff (prio 0, rom): pc.ram @00000000000c3000
  00000000000e8000-00000000000effff (prio 0, ram): pc.ram @00000000000e8000
  00000000000f0000-00000000000fffff (prio 0, rom): pc.ram @00000000000f0000
  0000000000100000-0000000007ffffff (prio 0, ram): pc.ram @0000000000100000
  00000000b0000000-00000000bfffffff (prio 0, i/o): pcie-mmcfg-mmio
  00000000febff000-00000000febfffff (prio 1, i/o): ahci
  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic
  00000000fed00000-00000000fed003ff (prio 0, i/o): hpet
  00000000fed1c000-00000000fed1ffff (prio 1, i/o): lpc-rcrb-mmio
  00000000fee00000-00000000feefffff (prio 4096, i/o): apic-msi
  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios
)";
constexpr const char* kQemu11SmmHead = R"(
FlatView #2
 AS "cpu-smm-0", root: memory
 Root memory region: memory
)";

TEST(LiveMemory, ParsesQemu11Output) {
  const std::string text =
      std::string(kQemu11Head) + kQemu11Ranges + kQemu11SmmHead + kQemu11Ranges;
  auto r = parse_mtree_flat(text);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->size(), 6u);
  const struct {
    std::uint64_t gpa, size, offset;
    const char* block;
  } want[] = {{0, 0xc3000, 0, "pc.ram"},
              {0xc3000, 0x25000, 0xc3000, "pc.ram"},
              {0xe8000, 0x8000, 0xe8000, "pc.ram"},
              {0xf0000, 0x10000, 0xf0000, "pc.ram"},
              {0x100000, 0x7f00000, 0x100000, "pc.ram"},
              {0xfffc0000, 0x40000, 0, "pc.bios"}};
  for (std::size_t i = 0; i < r->size(); ++i) {
    EXPECT_EQ((*r)[i].gpa, want[i].gpa) << i;
    EXPECT_EQ((*r)[i].size, want[i].size) << i;
    EXPECT_EQ((*r)[i].block_offset, want[i].offset) << i;
    EXPECT_EQ((*r)[i].block, want[i].block) << i;
  }
}

TEST(LiveMemory, ParsesProcMaps) {
  auto maps = parse_proc_maps("7f3a40000000-7f3a80000000 rw-p 00000000 00:00 0 \n"
                              "7f3a80000000-7f3a80021000 rw-s 00000000 00:01 1034    "
                              "/memfd:pc.ram (deleted)\n"
                              "garbage\n"
                              "zz-10 r--p\n");
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].start, 0x7f3a40000000u);
  EXPECT_EQ(maps[0].end, 0x7f3a80000000u);
  EXPECT_EQ(maps[0].perms, "rw-p");
  EXPECT_EQ(maps[0].path, "");
  EXPECT_EQ(maps[1].path, "/memfd:pc.ram (deleted)");
}

// PageSnapshot: the selective capture's copy of the kept pages, in memory or spooled.
class Snapshot : public ::testing::Test {
protected:
  static constexpr std::uint32_t kPs = 4096;
  static constexpr std::uint64_t kPages = 5000; // more than one 2048-page spool chunk

  void SetUp() override {
    meta_.page_size = kPs;
    meta_.ram = formats::PfnBitmap(kPages);
    meta_.ram.assign_range(0, kPages, true);
    meta_.available = meta_.ram;
    meta_.available.assign_range(100, 50, false); // a hole the source cannot read
    for (std::uint64_t pfn = 0; pfn < kPages; pfn += 1 + pfn % 3) keep_.set(pfn);
    dir_ = ::testing::TempDir() + "snapshot-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Page `pfn` of the fake guest: its number in every 8 bytes.
  static void fill(std::uint64_t pfn, std::byte* out) {
    for (std::uint32_t i = 0; i < kPs; i += 8) std::memcpy(out + i, &pfn, 8);
  }
  PageCopier copier() {
    return [this](std::span<const std::uint64_t> pfns, std::span<std::byte> out) -> Result<void> {
      ++copies_;
      for (std::size_t i = 0; i < pfns.size(); ++i) {
        if (!meta_.available.test(pfns[i])) {
          return make_error(ErrorCode::kNotFound, "page " + std::to_string(pfns[i]));
        }
        fill(pfns[i], out.data() + i * kPs);
      }
      return {};
    };
  }
  // Every kept, available page reads back as it was; no other page is in the snapshot.
  void expect_pages(const PageSnapshot& snap) {
    auto reader = snap.make_reader();
    std::vector<std::byte> scratch(kPs), want(kPs);
    std::uint64_t held = 0;
    for (std::uint64_t pfn = 0; pfn < kPages; ++pfn) {
      auto page = reader->read(pfn, scratch);
      if (keep_.test(pfn) && meta_.available.test(pfn)) {
        ASSERT_TRUE(page) << pfn << ": " << page.error().what();
        fill(pfn, want.data());
        ASSERT_EQ(std::memcmp(*page, want.data(), kPs), 0) << "page " << pfn;
        ++held;
      } else {
        EXPECT_FALSE(page) << "page " << pfn << " should not be in the snapshot";
      }
    }
    EXPECT_EQ(snap.bytes(), held * kPs);
  }

  formats::DumpMetadata meta_;
  formats::PfnBitmap keep_{kPages};
  std::string dir_;
  int copies_ = 0;
};

TEST_F(Snapshot, SmallCopiesStayInMemory) {
  auto snap = PageSnapshot::take(meta_, copier(), keep_, {64ull << 20, dir_});
  ASSERT_TRUE(snap) << snap.error().what();
  EXPECT_FALSE((*snap)->spooled());
  EXPECT_EQ(copies_, 1);
  expect_pages(**snap);
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(Snapshot, CopiesOverTheMemoryLimitGoToAnUnlinkedSpoolFile) {
  auto snap = PageSnapshot::take(meta_, copier(), keep_, {1ull << 20, dir_});
  ASSERT_TRUE(snap) << snap.error().what();
  EXPECT_TRUE((*snap)->spooled());
  EXPECT_GT(copies_, 1); // in bounded chunks
  expect_pages(**snap);
  // The spool is never visible: nothing is left behind, whatever happens to the process.
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(Snapshot, WithoutASpoolDirectoryALargeCopyIsRefused) {
  auto snap = PageSnapshot::take(meta_, copier(), keep_, {1ull << 20, ""});
  ASSERT_FALSE(snap);
  EXPECT_NE(snap.error().message.find("memory limit"), std::string::npos) << snap.error().what();
  EXPECT_EQ(copies_, 0);
}

TEST_F(Snapshot, AMissingSpoolDirectoryIsNamed) {
  auto snap = PageSnapshot::take(meta_, copier(), keep_, {0, dir_ + "/gone"});
  ASSERT_FALSE(snap);
  EXPECT_NE(snap.error().what().find(dir_ + "/gone"), std::string::npos) << snap.error().what();
}

TEST_F(Snapshot, AFailedGuestReadFailsTheSpooledCopy) {
  keep_.set(120); // in the hole, but the copier is asked for it when `available` says yes
  meta_.available.set(120);
  auto failing = [n = 0](std::span<const std::uint64_t>,
                         std::span<std::byte>) mutable -> Result<void> {
    if (++n == 2) return make_error(ErrorCode::kOs, "QEMU went away");
    return {};
  };
  auto snap = PageSnapshot::take(meta_, failing, keep_, {0, dir_});
  ASSERT_FALSE(snap);
  EXPECT_NE(snap.error().message.find("QEMU went away"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

} // namespace
} // namespace guestdump::host::detail

namespace guestdump::host::detail {
namespace {

// A LiveGuestMemory over this process's own memory: two RAM blocks (300 pages at PFN 0, 40 at
// PFN 1000), each page holding its PFN. Sequential readers get the read-ahead window, jumping
// readers one page at a time; either way every page reads back right, a window never runs past
// its block, and populated() reports the pages this process touched.
TEST(LiveMemory, ReadAheadAndTouchedPagesOverARealProcess) {
  constexpr std::size_t kPs = 4096;
  const std::size_t bytes_a = 300 * kPs, bytes_b = 40 * kPs;
  auto* a = static_cast<std::byte*>(
      ::mmap(nullptr, bytes_a, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* b = static_cast<std::byte*>(
      ::mmap(nullptr, bytes_b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(a, MAP_FAILED);
  ASSERT_NE(b, MAP_FAILED);
  for (std::uint64_t pfn = 0; pfn < 300; pfn += 2) std::memcpy(a + pfn * kPs, &pfn, 8); // even
  for (std::uint64_t i = 0; i < 40; ++i) {
    const std::uint64_t pfn = 1000 + i;
    std::memcpy(b + i * kPs, &pfn, 8);
  }
  formats::DumpMetadata meta;
  meta.page_size = kPs;
  std::vector<GuestRamRange> ranges = {{0, bytes_a, "a", 0}, {1000 * kPs, bytes_b, "b", 0}};
  std::vector<std::pair<std::string, std::uint64_t>> hva = {
      {"a", reinterpret_cast<std::uint64_t>(a)}, {"b", reinterpret_cast<std::uint64_t>(b)}};
  LiveGuestMemory mem(::getpid(), meta, ranges, hva, {});
  auto expect = [&](formats::PageReader& r, std::uint64_t pfn) {
    std::vector<std::byte> scratch(kPs);
    auto p = r.read(pfn, scratch);
    ASSERT_TRUE(p) << pfn << ": " << p.error().what();
    std::uint64_t got = 0;
    std::memcpy(&got, *p, 8);
    const std::uint64_t want = (pfn >= 1000 || pfn % 2 == 0) ? pfn : 0;
    EXPECT_EQ(got, want) << "page " << pfn;
  };
  auto seq = mem.make_reader();
  for (std::uint64_t pfn = 0; pfn < 300; ++pfn) expect(*seq, pfn); // windows of 2..64 pages
  for (std::uint64_t pfn = 1000; pfn < 1040; ++pfn) expect(*seq, pfn);
  auto jumps = mem.make_reader();
  for (std::uint64_t pfn : {299, 3, 1039, 150, 151, 152, 1000, 0}) expect(*jumps, pfn);
  std::vector<std::byte> scratch(kPs);
  EXPECT_FALSE(jumps->read(500, scratch)) << "PFN 500 is in no block";

  auto touched = mem.populated();
  ASSERT_TRUE(touched) << touched.error().what();
  // The odd pages of block a were read (through process_vm_readv, which maps the zero page:
  // present) or never touched; the even ones and all of block b were written.
  for (std::uint64_t pfn = 0; pfn < 300; pfn += 2) EXPECT_TRUE(touched->test(pfn)) << pfn;
  for (std::uint64_t pfn = 1000; pfn < 1040; ++pfn) EXPECT_TRUE(touched->test(pfn)) << pfn;
  EXPECT_FALSE(touched->test(500));
  auto* c = static_cast<std::byte*>(
      ::mmap(nullptr, bytes_b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(c, MAP_FAILED);
  LiveGuestMemory untouched(::getpid(), meta, {{0, bytes_b, "c", 0}},
                            {{"c", reinterpret_cast<std::uint64_t>(c)}}, {});
  auto none = untouched.populated();
  ASSERT_TRUE(none) << none.error().what();
  EXPECT_EQ(none->count(), 0u) << "a mapping nobody touched has no populated page";
  untouched.restrict_available(*none);
  EXPECT_EQ(untouched.metadata().available.count(), 0u);
  ::munmap(a, bytes_a);
  ::munmap(b, bytes_b);
  ::munmap(c, bytes_b);
}

} // namespace
} // namespace guestdump::host::detail
