// Kernel log extraction on synthetic printk buffers: the lockless ring buffer (wrap-around of
// ids and text, states, data-less records, lying metadata), the 3.5-5.9 record buffer and the
// pre-3.5 character buffer; plus one walk through real page tables in a synthetic ELF core.

#include "guestdump/kernel/kernel_log.h"

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "kernel_log_image.h"
#include "temp_dir.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

using testlog::GuestRam;
using testlog::PrbBuilder;

KernelLog extract_ok(const std::string& vmcoreinfo, const GuestRam& ram) {
  auto vi = VmcoreInfo::parse(vmcoreinfo);
  auto r = extract_kernel_log(vi, testlog::flat_reader(ram));
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r).value();
}

TEST(KernelLogPrb, FormatsRecordsLikeMakedumpfile) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("Linux version 6.1.0-test", 0);
  prb.add("second line", 1'234'567'891);
  prb.add("late", 123456'000'999'999ULL); // 123456 s: a wider prefix
  prb.finish();
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.kind, KernelLogKind::kPrintkRingbuffer);
  EXPECT_EQ(log.records, 3u);
  EXPECT_TRUE(log.warnings.empty());
  EXPECT_EQ(log.text, "[    0.000000] Linux version 6.1.0-test\n"
                      "[    1.234567] second line\n"
                      "[123456.000999] late\n");
}

TEST(KernelLogPrb, RecordsCarryTheirSequenceNumbersAndOffsets) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10, 100);
  prb.add("one", 0);
  prb.add("two\nlines", 1'000'000'000);
  prb.add("three", 2'000'000'000);
  prb.finish();
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  ASSERT_EQ(log.record_refs.size(), 3u);
  EXPECT_EQ(log.torn_records, 0u);
  EXPECT_EQ(log.record_refs[0].seq, 100u);
  EXPECT_EQ(log.record_refs[2].seq, 102u);
  EXPECT_EQ(log.record_refs[0].offset, 0u);
  EXPECT_EQ(log.text.substr(log.record_refs[1].offset, 14), "[    1.000000]");
  EXPECT_EQ(log.text.substr(log.record_refs[2].offset), "[    2.000000] three\n");
}

// What a read of a ring the guest is writing can see: a text block already reused by a newer
// record while the older descriptor still claims it, and a printk_info already rewritten for a
// newer record. Both are counted (the live log reads again); the dump's text is still printed.
TEST(KernelLogPrb, CountsRecordsTornBetweenDescriptorTextAndInfo) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("kept", 0);
  const auto b = prb.add("block reused", 1);
  const auto c = prb.add("info reused", 2);
  prb.add("kept too", 3);
  prb.finish();
  EXPECT_EQ(extract_ok(prb.vmcoreinfo(), ram).torn_records, 0u);
  ram.put_val<std::uint64_t>(prb.block_pa(b), b + 16); // the block's owner is a newer record
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.torn_records, 1u);
  EXPECT_EQ(log.records, 4u);
  ASSERT_FALSE(log.warnings.empty());
  EXPECT_NE(log.warnings.back().find("1 records' text block or printk_info"), std::string::npos);
  ram.put_val<std::uint64_t>(prb.info_pa(c), c + 16); // seq of the slot's next use
  EXPECT_EQ(extract_ok(prb.vmcoreinfo(), ram).torn_records, 2u);
}

// The guest reuses a record while the reader copies the text ring (after it copied the
// descriptors): only the second look at the descriptors shows it, and only when asked for.
TEST(KernelLogPrb, RecheckCountsRecordsReusedWhileTheRingWasRead) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("first", 0);
  const auto b = prb.add("reused under the reader", 1);
  prb.add("last", 2);
  prb.finish();
  const std::vector<std::byte> pristine = ram.bytes();
  int desc_reads = 0;
  const auto flat = testlog::flat_reader(ram);
  const std::uint64_t descs_va = testlog::kDirectMap + prb.descs_pa();
  KernelReadFn racing = [&](std::uint64_t va, std::span<std::byte> out) -> Result<void> {
    if (va == descs_va && ++desc_reads == 2) {
      prb.write_desc(b + 16, testlog::kReserved, 0, 0); // the slot's next use began
    }
    return flat(va, out);
  };
  const auto vi = VmcoreInfo::parse(prb.vmcoreinfo());
  auto once = extract_kernel_log(vi, racing);
  ASSERT_TRUE(once) << once.error().message;
  EXPECT_EQ(once->torn_records, 0u); // one look: nothing to compare with
  EXPECT_EQ(desc_reads, 1);
  ram.bytes() = pristine;
  desc_reads = 0;
  KernelLogLimits live;
  live.recheck_descriptors = true;
  auto twice = extract_kernel_log(vi, racing, live);
  ASSERT_TRUE(twice) << twice.error().message;
  EXPECT_EQ(desc_reads, 2);
  EXPECT_EQ(twice->torn_records, 1u);
  EXPECT_EQ(twice->records, 3u);
}

TEST(KernelLogPrb, WithoutSeqOffsetRecordsHaveNoSequenceNumbers) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("one", 0);
  prb.finish();
  std::string vi = prb.vmcoreinfo();
  vi.erase(vi.find("OFFSET(printk_info.seq)=0\n"), 26);
  auto log = extract_ok(vi, ram);
  EXPECT_EQ(log.records, 1u);
  EXPECT_TRUE(log.record_refs.empty());
}

TEST(KernelLogPrb, EscapesAndIndentsLikeMakedumpfile) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  // Multi-line record (pr_cont and "\n" inside one message) indented, tab kept, control bytes
  // and bytes >= 0x80 escaped as the signed char makedumpfile passes to "\\x%02x". Unlike
  // makedumpfile, CR, VT and FF are escaped too: a guest's CR would overwrite the line shown on
  // an operator's terminal.
  prb.add(std::string("a\nb\tc\rd\x01"
                      "e\x7f\xc3\xa9\v\f",
                      14),
          5'000'000'000ULL);
  prb.add(std::string("nul\0x", 5), 6'000'000'000ULL);
  prb.finish();
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.text, "[    5.000000] a\n"
                      "               b\tc\\x0dd\\x01e\\x7f\\xffffffc3\\xffffffa9\\x0b\\x0c\n"
                      "[    6.000000] nul\\x00x\n");
}

TEST(KernelLogPrb, WrapsIdsAndTextAroundTheRings) {
  GuestRam ram(1 << 16);
  // 8 descriptors, 512-byte text ring; ids start near a large value and lpos several laps in,
  // 20 records so both rings wrap: only the newest 8 are live.
  PrbBuilder prb(ram, 0x1000, 3, 9, 1000, 512 * 5 + 400);
  std::string want;
  for (int i = 0; i < 20; ++i) {
    std::string text = "message number " + std::to_string(i) + " xxxxxxx";
    prb.add(text, static_cast<std::uint64_t>(i) * 1'000'000'000ULL);
    if (i >= 12) {
      char prefix[32];
      std::snprintf(prefix, sizeof prefix, "[%5d.000000] ", i);
      want += prefix + text + "\n";
    }
  }
  prb.finish();
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.records, 8u);
  EXPECT_EQ(log.text, want);
}

TEST(KernelLogPrb, SkipsUnfinishedReusedAndDatalessRecords) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("finalized", 1'000'000'000ULL, testlog::kFinalized);
  prb.add("reserved", 2'000'000'000ULL, testlog::kReserved);
  prb.add("reusable", 3'000'000'000ULL, testlog::kReusable);
  prb.add_dataless(4'000'000'000ULL);
  std::uint64_t id = prb.add("id mismatch", 5'000'000'000ULL);
  prb.write_desc(id, testlog::kFinalized, 0, 64); // state_var carries another id
  ram.put_val<std::uint64_t>(prb.descs_pa() + (id % 16) * 24, (std::uint64_t{2} << 62) | (id + 16));
  prb.add("committed (continuation still open)", 6'000'000'000ULL, testlog::kCommitted);
  prb.finish();
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.text, "[    1.000000] finalized\n"
                      "[    6.000000] committed (continuation still open)\n");
}

TEST(KernelLogPrb, EmptyLog) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10, 5);
  // A fresh ring: head == tail and that descriptor is reusable (as prb_init leaves it).
  prb.write_desc(5, testlog::kReusable, 0, 0);
  prb.finish_with(5, 5);
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.text, "");
  EXPECT_EQ(log.records, 0u);
}

TEST(KernelLogPrb, LyingMetadataIsBounded) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("one", 1);
  std::uint64_t id = prb.add("two", 2);
  // The tail claims to be 2^40 ids behind the head: only one ring's worth is walked.
  prb.finish_with(id, (id - (std::uint64_t{1} << 40)) & ~(std::uint64_t{3} << 62));
  auto log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.records, 2u);
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find("behind head"), std::string::npos);

  // text_len larger than the block: cut to the block, as makedumpfile does.
  ram.put_val<std::uint16_t>(prb.infos_pa() + (id % 16) * 88 + 16, 60000);
  prb.finish();
  log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.records, 2u);
  EXPECT_EQ(log.text.substr(0, 19), "[    0.000000] one\n");

  // A descriptor whose next lpos lies before its begin in a tiny ring: never read past the ring.
  prb.write_desc(id, testlog::kFinalized, 1000, 2); // wraps: text at 8, "next" 2 < 8
  log = extract_ok(prb.vmcoreinfo(), ram);
  EXPECT_EQ(log.records, 2u);
  EXPECT_FALSE(log.warnings.empty());
}

TEST(KernelLogPrb, ImplausibleSizesAreErrors) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("x", 1);
  prb.finish();
  ram.put_val<std::uint32_t>(prb.rb_pa() + 0, 40); // count_bits
  auto vi = VmcoreInfo::parse(prb.vmcoreinfo());
  auto r = extract_kernel_log(vi, testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadData);
  EXPECT_NE(r.error().message.find("descriptor ring"), std::string::npos) << r.error().message;

  prb.finish();
  ram.put_val<std::uint32_t>(prb.rb_pa() + 48, 62); // size_bits
  r = extract_kernel_log(vi, testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("text ring"), std::string::npos) << r.error().message;

  // Offsets pointing outside their structures.
  prb.finish();
  std::string text = prb.vmcoreinfo();
  text.replace(text.find("OFFSET(printk_info.text_len)=16"), 31, "OFFSET(printk_info.text_len)=87");
  r = extract_kernel_log(VmcoreInfo::parse(text), testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadData);
}

TEST(KernelLogPrb, OffsetNearTwoToThe64IsRejectedByKeyAndValue) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("x", 1);
  prb.finish();
  std::string text = prb.vmcoreinfo();
  // 2^64 - 8: "+ 8" wraps to 0, inside prb_desc, and each descriptor load would read 8 bytes
  // before the host buffer.
  text.replace(text.find("OFFSET(prb_desc.state_var)=0"), 28,
               "OFFSET(prb_desc.state_var)=18446744073709551608");
  auto r = extract_kernel_log(VmcoreInfo::parse(text), testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadData);
  EXPECT_NE(r.error().message.find("OFFSET(prb_desc.state_var)=18446744073709551608"),
            std::string::npos)
      << r.error().message;

  text = prb.vmcoreinfo();
  text.replace(text.find("SIZE(printk_info)=88"), 20, "SIZE(printk_info)=1099511627776");
  r = extract_kernel_log(VmcoreInfo::parse(text), testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("SIZE(printk_info)=1099511627776"), std::string::npos)
      << r.error().message;
}

TEST(KernelLogPrb, RingLargerThanMemoryIsReadOnlyAsFarAsMemoryGoes) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("x", 1);
  prb.finish();
  ram.put_val<std::uint32_t>(prb.rb_pa() + 48, 27); // a 128 MiB text ring in 64 KiB of RAM
  std::uint64_t largest = 0;
  auto reader = testlog::flat_reader(ram);
  KernelReadFn counting = [&](std::uint64_t va, std::span<std::byte> out) {
    largest = std::max<std::uint64_t>(largest, out.size());
    return reader(va, out);
  };
  auto r = extract_kernel_log(VmcoreInfo::parse(prb.vmcoreinfo()), counting);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("printk text ring"), std::string::npos) << r.error().message;
  // The buffer grows with what was read: never one allocation of the claimed size.
  EXPECT_LE(largest, std::uint64_t{1} << 20);
}

TEST(KernelLogPrb, RecordFloodKeepsTheNewestWithinTheCaps) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  for (int i = 0; i < 6; ++i) prb.add("record " + std::to_string(i), 1'000'000'000ULL * i);
  prb.finish();
  auto vi = VmcoreInfo::parse(prb.vmcoreinfo());
  auto r = extract_kernel_log(vi, testlog::flat_reader(ram), {1 << 20, 3});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records, 3u);
  EXPECT_EQ(r->text, "[    3.000000] record 3\n"
                     "[    4.000000] record 4\n"
                     "[    5.000000] record 5\n");
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("the oldest 3 records were dropped"), std::string::npos)
      << r->warnings[0];

  // The byte cap: each line is 24 bytes, so 50 bytes keep two.
  r = extract_kernel_log(vi, testlog::flat_reader(ram), {50, 1000});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->records, 2u);
  EXPECT_EQ(r->text, "[    4.000000] record 4\n"
                     "[    5.000000] record 5\n");
  EXPECT_FALSE(r->warnings.empty());
}

TEST(KernelLogPrb, UnreadableMemoryNamesTheAddress) {
  GuestRam ram(1 << 16);
  PrbBuilder prb(ram, 0x1000, 4, 10);
  prb.add("x", 1);
  prb.finish();
  ram.put_val<std::uint64_t>(prb.rb_pa() + 56, 0xffffffffdead0000ULL); // data pointer
  auto r = extract_kernel_log(VmcoreInfo::parse(prb.vmcoreinfo()), testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("printk text ring at 0xffffffffdead0000"), std::string::npos)
      << r.error().message;
}

TEST(KernelLog, NoBufferInVmcoreinfo) {
  GuestRam ram(4096);
  auto r = extract_kernel_log(VmcoreInfo::parse("OSRELEASE=6.1\n"), testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  // Half the keys: the missing ones are named.
  r = extract_kernel_log(VmcoreInfo::parse("SYMBOL(prb)=ffff888000001000\nSIZE(prb_desc)=24\n"),
                         testlog::flat_reader(ram));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("OFFSET(printk_info.text_len)"), std::string::npos);
}

TEST(KernelLogRecords, PrintsTextWithoutDictionariesAndFollowsTheWrapMarker) {
  GuestRam ram(1 << 16);
  testlog::RecordLogBuilder b(ram, 0x2000, 200);
  std::uint32_t first = b.add("old record, overwritten later", 1'000'000'000ULL);
  (void)first;
  std::uint32_t second = b.add("second: kept", 2'000'000'000ULL, "SUBSYSTEM=pci\0DEVICE=+pci:0");
  b.add("third\nwith two lines", 3'000'000'000ULL);
  b.add("fourth", 4'000'000'000ULL);
  b.add("fifth", 5'000'000'000ULL);
  b.add("sixth", 6'000'000'000ULL); // wraps to index 0 after a zero-length marker
  b.set_first(second);
  b.finish();
  auto log = extract_ok(b.vmcoreinfo(), ram);
  EXPECT_EQ(log.kind, KernelLogKind::kRecordBuffer);
  EXPECT_EQ(log.text, "[    2.000000] second: kept\n"
                      "[    3.000000] third\n"
                      "               with two lines\n"
                      "[    4.000000] fourth\n"
                      "[    5.000000] fifth\n"
                      "[    6.000000] sixth\n");
  EXPECT_TRUE(log.warnings.empty());
}

TEST(KernelLogRecords, BrokenChainStops) {
  GuestRam ram(1 << 16);
  testlog::RecordLogBuilder b(ram, 0x2000, 256);
  b.add("only", 1);
  b.set_next(200); // never reached: the record at 0 loops through the marker forever
  b.finish();
  ram.put_val<std::uint16_t>(b.buf_pa() + 24 + 8, 0); // a marker right after the record
  auto log = extract_ok(b.vmcoreinfo(), ram);
  EXPECT_FALSE(log.warnings.empty());
  EXPECT_LE(log.records, 256u / 16 + 2);
}

TEST(KernelLogText, UnwrappedAndWrappedBuffers) {
  GuestRam ram(1 << 16);
  std::string vi = testlog::legacy_log(ram, 0x3000, 64, "<6>hello\n<4>world\n");
  auto log = extract_ok(vi, ram);
  EXPECT_EQ(log.kind, KernelLogKind::kTextBuffer);
  EXPECT_EQ(log.text, "<6>hello\n<4>world\n");

  GuestRam ram2(1 << 16);
  std::string all;
  for (int i = 0; i < 10; ++i) all += "<6>line " + std::to_string(i) + "\n";
  vi = testlog::legacy_log(ram2, 0x3000, 64, all);
  log = extract_ok(vi, ram2);
  EXPECT_EQ(log.text, all.substr(all.size() - 64));
}

TEST(KernelLogText, ControlBytesAreEscapedAndTheOutputCapped) {
  GuestRam ram(1 << 16);
  // An escape sequence that would recolour the operator's terminal, a bell and a high byte.
  std::string vi =
      testlog::legacy_log(ram, 0x3000, 256, "<6>\x1b[31mred\x07\n<4>caf\xc3\xa9\n<6>last\n");
  auto log = extract_ok(vi, ram);
  EXPECT_EQ(log.text, "<6>\\x1b[31mred\\x07\n<4>caf\\xffffffc3\\xffffffa9\n<6>last\n");

  auto r = extract_kernel_log(VmcoreInfo::parse(vi), testlog::flat_reader(ram), {12, 100});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "<6>last\n"); // the newest whole lines within 12 bytes
  EXPECT_FALSE(r->warnings.empty());
}

TEST(KernelLogRecords, RecordFloodIsCapped) {
  GuestRam ram(1 << 16);
  testlog::RecordLogBuilder b(ram, 0x2000, 4096);
  for (int i = 0; i < 100; ++i) b.add("r" + std::to_string(i), 1'000'000'000ULL * i);
  b.finish();
  auto r = extract_kernel_log(VmcoreInfo::parse(b.vmcoreinfo()), testlog::flat_reader(ram),
                              {1 << 20, 10});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records, 10u);
  EXPECT_EQ(r->text.substr(0, 19), "[   90.000000] r90\n");
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings.back().find("90 records were dropped"), std::string::npos);
}

// The whole path through a dump: VMCOREINFO note, x86_64 page tables (1 GiB direct-map page),
// physical reads from an ELF core.
TEST(KernelLogDump, ReadsThroughPageTablesOfASyntheticCore) {
  test::TempDir dir;
  GuestRam ram(1 << 20);
  // init_top_pgt at PA 0x1000 (phys_base 0), PUD at 0x2000 mapping 1 GiB at PA 0.
  const std::uint64_t pml4_idx = (testlog::kDirectMap >> 39) & 0x1ff;
  ram.put_val<std::uint64_t>(0x1000 + pml4_idx * 8, 0x2000 | 3);
  ram.put_val<std::uint64_t>(0x2000, 0 | 0x80 | 3);
  PrbBuilder prb(ram, 0x10000, 4, 12);
  prb.add("Linux version 6.1.0-test", 0);
  prb.add("Kernel panic - not syncing: sysrq triggered crash", 2'040'068'000ULL);
  prb.finish();
  std::string vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=" +
                           testlog::hexs(0xffffffff80001000ULL) + "\nNUMBER(phys_base)=0\n" +
                           prb.vmcoreinfo();
  ram.bytes().resize((ram.bytes().size() + 4095) / 4096 * 4096);
  test::ElfCoreSpec spec;
  spec.notes = {test::make_vmcoreinfo_note(vmcoreinfo)};
  test::ElfSegment seg;
  seg.memsz = ram.bytes().size();
  seg.data.resize(ram.bytes().size());
  std::memcpy(seg.data.data(), ram.bytes().data(), ram.bytes().size());
  spec.loads = {seg};
  test::write_file(dir.file("log.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("log.elf"));
  ASSERT_TRUE(src) << src.error().message;
  auto log = read_kernel_log(**src);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ(log->text, "[    0.000000] Linux version 6.1.0-test\n"
                       "[    2.040068] Kernel panic - not syncing: sysrq triggered crash\n");

  // Without VMCOREINFO there is nothing to go on.
  spec.notes.clear();
  test::write_file(dir.file("novi.elf"), test::build_elf_core(spec));
  auto src2 = open_dump(dir.file("novi.elf"));
  ASSERT_TRUE(src2) << src2.error().message;
  auto none = read_kernel_log(**src2);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

} // namespace
} // namespace guestdump::kernel
