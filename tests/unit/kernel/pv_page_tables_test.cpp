#include "guestdump/kernel/pv_page_tables.h"

#include <cstring>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/kernel_memory.h"
#include "temp_dir.h"
#include "xen_core_builder.h"

namespace guestdump::kernel {
namespace {

using namespace guestdump::formats;

std::uint64_t entry_at(const std::byte* page, std::uint64_t index) {
  std::uint64_t e = 0;
  std::memcpy(&e, page + index * 8, 8);
  return e;
}

std::uint64_t idx(std::uint64_t va, int shift) {
  return (va >> shift) & 0x1ff;
}

constexpr std::uint64_t kVa4k = 0xffff888000005000ULL;
constexpr std::uint64_t kVa2m = 0xffff888000200000ULL;
constexpr std::uint64_t kVaForeign = 0xffff888000006000ULL;
constexpr std::uint64_t kVaXenSlot = 0xffff800000000000ULL; // L4 slot 256: Xen's own

// 1024 pages whose machine frames are the PFNs + 0x1000 except the first 16, which are
// reversed (0x600..0x60f): a table tree at PFNs 1 (top, phys_base 0) to 4, a 4 KiB page, a
// 2 MiB page on the aligned run PFN 512..1023, a foreign frame and Xen's top-table slot, and a
// hostile entry that names the top table again from below.
test::XenCoreSpec pv_guest() {
  test::XenCoreSpec spec;
  spec.pv = true;
  auto mfn = [](std::uint64_t pfn) { return pfn < 16 ? 0x600 + (15 - pfn) : pfn + 0x1000; };
  for (std::uint64_t pfn = 0; pfn < 1024; ++pfn) {
    spec.pfns.push_back(pfn);
    spec.gmfns.push_back(mfn(pfn));
  }
  auto set = [&](std::uint64_t pfn, std::uint64_t index, std::uint64_t entry) {
    test::set_page_u64(spec, pfn, index, entry);
  };
  set(1, idx(kVa4k, 39), mfn(2) << 12 | 0x63);
  set(1, idx(kVaXenSlot, 39), 0x99999000 | 0x63); // Xen's own frame, not the guest's
  set(2, idx(kVa4k, 30), mfn(3) << 12 | 0x63);
  set(2, 511, mfn(1) << 12 | 0x63); // the top table again, one level down
  set(3, idx(kVa4k, 21), mfn(4) << 12 | 0x63);
  set(3, idx(kVa2m, 21), mfn(512) << 12 | 0x1000 | 0xe3);        // 2 MiB page, PAT bit 12 set
  set(4, idx(kVa4k, 12), mfn(10) << 12 | 0x8000000000000063ULL); // NX kept
  set(4, idx(kVaForeign, 12), 0x7777000 | 0x63);
  spec.page_data[10] = std::vector<std::uint8_t>(4096, 0xab);
  return spec;
}

std::unique_ptr<DumpSource> open_pv(const test::TempDir& dir, const test::XenCoreSpec& spec,
                                    const std::string& vmcoreinfo) {
  test::write_file(dir.file("pv.core"), test::build_xen_core(spec));
  auto src = open_dump(dir.file("pv.core"));
  if (!src) throw std::runtime_error(src.error().what());
  // VMCOREINFO added, as the locator adds it to a real one.
  DumpMetadata meta = (*src)->metadata();
  meta.vmcoreinfo = VmcoreInfo::parse(vmcoreinfo);
  return with_metadata(std::move(src).value(), std::move(meta));
}

const std::string kVmcoreinfo = "OSRELEASE=6.1.0\nPAGESIZE=4096\n"
                                "SYMBOL(init_top_pgt)=ffffffff80001000\nNUMBER(phys_base)=0\n";

// makedumpfile and drgn walk a dump's page tables themselves; a PV guest's name machine frames
// (a real one: makedumpfile "Can't get pud_pte"). The view rewrites the kernel's tree so the
// same walk without any map reaches the same pages, keeps every flag bit, and marks entries
// naming frames the guest does not own not present.
TEST(PvPageTables, KernelTreeNamesPseudoPhysicalFrames) {
  test::TempDir dir;
  auto spec = pv_guest();
  auto inner = open_pv(dir, spec, kVmcoreinfo);
  ASSERT_NE(inner->metadata().machine_frames, nullptr);
  const DumpSource* raw = inner.get();
  PvTableReport rep;
  auto view_r = with_pseudo_physical_tables(std::move(inner), &rep);
  ASSERT_TRUE(view_r) << view_r.error().what();
  auto& view = *view_r;
  ASSERT_NE(view.get(), raw) << "a PV guest with VMCOREINFO gets the view";
  EXPECT_EQ(view->metadata().machine_frames, nullptr);
  EXPECT_EQ(rep.tables, 4u);
  EXPECT_EQ(rep.entries, 6u); // 1 + 2 (the hostile one names a valid frame) + 2 + 1
  EXPECT_EQ(rep.not_the_guests, 2u);

  auto reader = view->make_reader();
  std::vector<std::byte> scratch(4096);
  auto page = reader->read(1, scratch);
  ASSERT_TRUE(page);
  EXPECT_EQ(entry_at(*page, idx(kVa4k, 39)), 2u << 12 | 0x63);
  EXPECT_EQ(entry_at(*page, idx(kVaXenSlot, 39)), 0x99999000u | 0x62) << "not present, kept";
  page = reader->read(2, scratch);
  ASSERT_TRUE(page);
  EXPECT_EQ(entry_at(*page, 511), 1u << 12 | 0x63);
  page = reader->read(3, scratch);
  ASSERT_TRUE(page);
  EXPECT_EQ(entry_at(*page, idx(kVa2m, 21)), 512u << 12 | 0x1000 | 0xe3) << "PAT bit kept";
  page = reader->read(4, scratch);
  ASSERT_TRUE(page);
  EXPECT_EQ(entry_at(*page, idx(kVa4k, 12)), 10u << 12 | 0x8000000000000063ULL);
  EXPECT_EQ(entry_at(*page, idx(kVaForeign, 12)), 0x7777000u | 0x62);
  page = reader->read(10, scratch); // not a table: as it is
  ASSERT_TRUE(page);
  EXPECT_EQ(entry_at(*page, 0), 0xababababababababULL);

  // The walk of a non-PV reader over the view.
  auto t = X86_64Translator::from_vmcoreinfo(*view->metadata().vmcoreinfo);
  ASSERT_TRUE(t);
  PhysicalMemory mem(*view);
  auto pa = t->translate(mem, kVa4k + 0x123);
  ASSERT_TRUE(pa) << pa.error().what();
  EXPECT_EQ(*pa, 10u * 4096 + 0x123);
  pa = t->translate(mem, kVa2m + 0x3123);
  ASSERT_TRUE(pa) << pa.error().what();
  EXPECT_EQ(*pa, 515u * 4096 + 0x123);
  EXPECT_FALSE(t->translate(mem, kVaForeign));
  EXPECT_FALSE(t->translate(mem, kVaXenSlot));

  // The notes say what was done, and hold no machine-frame map.
  auto notes = parse_notes(view->metadata().notes);
  ASSERT_TRUE(notes);
  int said = 0;
  for (const NoteView& n : *notes) {
    EXPECT_FALSE(n.name == "GUESTDUMP" && n.type == kMachineFramesNoteType);
    if (n.name == "GUESTDUMP" && n.type == kPvTablesNoteType) {
      ++said;
      std::string text(reinterpret_cast<const char*>(n.desc.data()), n.desc.size());
      EXPECT_EQ(text, rep.summary);
    }
  }
  EXPECT_EQ(said, 1);
  EXPECT_NE(rep.summary.find("4 tables, 6 entries; 2 entries"), std::string::npos) << rep.summary;
}

// A 2 MiB page whose machine frames are contiguous but whose PFNs are not one aligned run cannot
// be written as a PFN entry: it is marked not present rather than pointed at the wrong pages.
TEST(PvPageTables, LargePageOverScatteredFramesIsNotPresent) {
  test::TempDir dir;
  auto spec = pv_guest();
  std::uint64_t e = 0x600000 | 0xe3; // machine frames 0x600..0x7ff: PFNs 15..0, then unowned
  std::memcpy(spec.page_data[3].data() + idx(kVa2m, 21) * 8, &e, 8);
  PvTableReport rep;
  auto view = with_pseudo_physical_tables(open_pv(dir, spec, kVmcoreinfo), &rep);
  ASSERT_TRUE(view);
  std::vector<std::byte> scratch(4096);
  auto page = (*view)->make_reader()->read(3, scratch);
  ASSERT_TRUE(page);
  EXPECT_EQ(entry_at(*page, idx(kVa2m, 21)), 0x600000u | 0xe2);
  EXPECT_EQ(rep.not_the_guests, 3u);
}

// No view without VMCOREINFO or without a top table in the dump: the source comes back as it
// is, and guestdump's own walks still follow the machine frames.
TEST(PvPageTables, NoUsableTopTableLeavesTheSource) {
  test::TempDir dir;
  for (const std::string& vi :
       {std::string(), std::string("PAGESIZE=4096\n"),
        std::string("PAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff90000000\n")}) {
    std::unique_ptr<DumpSource> src;
    if (vi.empty()) {
      test::write_file(dir.file("pv.core"), test::build_xen_core(pv_guest()));
      src = std::move(open_dump(dir.file("pv.core"))).value();
    } else {
      src = open_pv(dir, pv_guest(), vi);
    }
    const DumpSource* raw = src.get();
    auto view = with_pseudo_physical_tables(std::move(src));
    ASSERT_TRUE(view);
    EXPECT_EQ(view->get(), raw) << vi;
    EXPECT_NE((*view)->metadata().machine_frames, nullptr) << vi;
  }
}

} // namespace
} // namespace guestdump::kernel
