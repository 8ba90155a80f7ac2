// Header, layout and descriptor math against hand-computed values (formats.md §1.13 worked
// example: RAM [0, 3 GiB) + [4 GiB, 5 GiB), 2 vCPUs with CORE and QEMU notes, 3000-byte
// VMCOREINFO).

#include "guestdump/formats/kdump_format.h"

#include <cstring>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "guestdump/formats/dump_source.h"
#include "temp_dir.h"

namespace guestdump::formats {
namespace {

template <typename T> T at(const std::vector<std::byte>& v, std::size_t off) {
  T x;
  std::memcpy(&x, v.data() + off, sizeof x);
  return x;
}

TEST(KdumpLayout, WorkedExample) {
  const std::uint64_t max_mapnr = 0x140000;
  const std::uint64_t note_size = 2 * 356 + 2 * 452 + 3024; // 4640
  ASSERT_EQ(note_size, 4640u);
  auto l = compute_layout(KdumpArch::kX86_64, 4096, max_mapnr, note_size, 1048576);
  EXPECT_EQ(l.bitmap_blocks, 40u);
  EXPECT_EQ(l.sub_hdr_blocks, 2u);
  EXPECT_EQ(l.offset_note, 4200u);
  EXPECT_EQ(l.offset_bitmap1, 12288u);
  EXPECT_EQ(l.offset_bitmap2, 176128u);
  EXPECT_EQ(l.offset_descs, 339968u);
  EXPECT_EQ(l.offset_data, 25505792u);

  KdumpHeader hdr;
  fill_layout_fields(hdr, l, note_size, 2 * 356 + 2 * 452 + 24, 3000);
  EXPECT_EQ(hdr.offset_vmcoreinfo, 5840u);
  EXPECT_EQ(hdr.size_vmcoreinfo, 3000u);
  EXPECT_EQ(hdr.bitmap_blocks, 80u);
  EXPECT_EQ(hdr.sub_hdr_size, 2u);
  EXPECT_EQ(hdr.max_mapnr, 0x140000u);
  EXPECT_EQ(hdr.max_mapnr_64, 0x140000u);
}

TEST(KdumpLayout, MakedumpfileStyleNotes) {
  // CORE x2 + VMCOREINFO only: size_note 3736, offset_vmcoreinfo 4936. 104 + 3736 bytes fit
  // one block, so sub_hdr_size is 1 and everything after moves down a block (formats.md §1.13
  // says "the rest is the same", which the sub_hdr_size formula contradicts).
  auto l = compute_layout(KdumpArch::kX86_64, 4096, 0x140000, 3736, 1048576);
  KdumpHeader hdr;
  fill_layout_fields(hdr, l, 3736, 2 * 356 + 24, 3000);
  EXPECT_EQ(hdr.offset_vmcoreinfo, 4936u);
  EXPECT_EQ(hdr.sub_hdr_size, 1u);
  EXPECT_EQ(l.offset_bitmap1, 8192u);
  EXPECT_EQ(l.offset_descs, 335872u);
}

TEST(KdumpLayout, MaxMapnrTruncatesTo32Bits) {
  auto l = compute_layout(KdumpArch::kX86_64, 4096, (1ULL << 33) + 5, 0, 0);
  KdumpHeader hdr;
  fill_layout_fields(hdr, l, 0, -1, 0);
  EXPECT_EQ(hdr.max_mapnr, UINT32_MAX);
  EXPECT_EQ(hdr.max_mapnr_64, (1ULL << 33) + 5);
  EXPECT_EQ(hdr.offset_vmcoreinfo, 0u);
}

TEST(KdumpHeader, X86_64FieldOffsets) {
  KdumpHeader h;
  h.utsname = {"Linux", "node", "6.1.0", "#1 SMP", "x86_64", "(none)"};
  h.timestamp_sec = 0x1122334455;
  h.status = 0x20;
  h.block_size = 4096;
  h.sub_hdr_size = 2;
  h.bitmap_blocks = 80;
  h.max_mapnr = 0x140000;
  h.nr_cpus = 2;
  h.phys_base = 0x1000000;
  h.dump_level = 31;
  h.offset_vmcoreinfo = 5840;
  h.size_vmcoreinfo = 3000;
  h.offset_note = 4200;
  h.size_note = 4640;
  h.max_mapnr_64 = 0x140000;
  h.end_pfn_64 = 0x140000;
  std::vector<std::byte> notes(4640, std::byte{0x5a});
  auto b = encode_header_blocks(h, notes);
  ASSERT_EQ(b.size(), 3 * 4096u);
  EXPECT_EQ(std::memcmp(b.data(), "KDUMP   ", 8), 0);
  EXPECT_EQ(at<std::int32_t>(b, 8), 6);
  EXPECT_EQ(std::memcmp(b.data() + 12, "Linux", 6), 0);
  EXPECT_EQ(std::memcmp(b.data() + 142, "6.1.0", 6), 0);
  EXPECT_EQ(std::memcmp(b.data() + 272, "x86_64", 7), 0);
  EXPECT_EQ(at<std::int64_t>(b, 408), 0x1122334455);
  EXPECT_EQ(at<std::uint32_t>(b, 424), 0x20u);
  EXPECT_EQ(at<std::int32_t>(b, 428), 4096);
  EXPECT_EQ(at<std::int32_t>(b, 432), 2);
  EXPECT_EQ(at<std::uint32_t>(b, 436), 80u);
  EXPECT_EQ(at<std::uint32_t>(b, 440), 0x140000u);
  EXPECT_EQ(at<std::int32_t>(b, 460), 2);
  for (std::size_t i = 464; i < 4096; ++i) ASSERT_EQ(b[i], std::byte{0}) << i;
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 0), 0x1000000u);
  EXPECT_EQ(at<std::int32_t>(b, 4096 + 8), 31);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 32), 5840u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 40), 3000u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 48), 4200u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 56), 4640u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 88), 0x140000u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 96), 0x140000u);
  EXPECT_EQ(b[4200], std::byte{0x5a});
  EXPECT_EQ(b[4200 + 4639], std::byte{0x5a});
  EXPECT_EQ(b[4200 + 4640], std::byte{0});

  auto d = decode_header(b);
  ASSERT_TRUE(d) << d.error().what();
  EXPECT_EQ(d->arch, KdumpArch::kX86_64);
  EXPECT_EQ(d->nr_cpus, 2);
  EXPECT_EQ(d->offset_vmcoreinfo, 5840u);
  EXPECT_EQ(d->max_mapnr_64, 0x140000u);
  EXPECT_EQ(d->timestamp_sec, 0x1122334455);
  EXPECT_EQ(d->utsname[1], "node");
}

TEST(KdumpHeader, I386FieldOffsets) {
  KdumpHeader h;
  h.arch = KdumpArch::kI386;
  h.utsname[4] = "i686";
  h.timestamp_sec = 77;
  h.status = 1;
  h.sub_hdr_size = 1;
  h.bitmap_blocks = 2;
  h.max_mapnr = 1000;
  h.nr_cpus = 1;
  h.dump_level = 1;
  h.offset_vmcoreinfo = 4180;
  h.size_vmcoreinfo = 7;
  h.offset_note = 4176;
  h.size_note = 20;
  h.max_mapnr_64 = 1000;
  auto b = encode_header_blocks(h, {});
  EXPECT_EQ(header_size(KdumpArch::kI386), 452u);
  EXPECT_EQ(sub_header_size(KdumpArch::kI386), 80u);
  EXPECT_EQ(at<std::int32_t>(b, 404), 77);
  EXPECT_EQ(at<std::uint32_t>(b, 412), 1u);
  EXPECT_EQ(at<std::int32_t>(b, 416), 4096);
  EXPECT_EQ(at<std::int32_t>(b, 448), 1);
  EXPECT_EQ(at<std::int32_t>(b, 4096 + 4), 1);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 20), 4180u);
  EXPECT_EQ(at<std::uint32_t>(b, 4096 + 28), 7u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 32), 4176u);
  EXPECT_EQ(at<std::uint64_t>(b, 4096 + 72), 1000u);
  auto d = decode_header(b);
  ASSERT_TRUE(d) << d.error().what();
  EXPECT_EQ(d->arch, KdumpArch::kI386);
  EXPECT_EQ(d->offset_note, 4176u);
  EXPECT_EQ(d->size_vmcoreinfo, 7u);
}

TEST(KdumpHeader, DecodeRejectsNonsense) {
  std::vector<std::byte> junk(8192, std::byte{0x41});
  auto r = decode_header(junk);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("KDUMP"), std::string::npos);

  KdumpHeader h;
  h.utsname[4] = "x86_64";
  h.sub_hdr_size = 1;
  h.bitmap_blocks = 2; // too few for max_mapnr below
  h.max_mapnr_64 = 1 << 20;
  auto b = encode_header_blocks(h, {});
  auto r2 = decode_header(b);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("bitmap"), std::string::npos);

  h.bitmap_blocks = 64;
  h.block_size = 3000;
  auto r3 = decode_header(encode_header_blocks(h, {}));
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("block size"), std::string::npos);
}

// A flattened file of about 12 KiB whose header claims 2^29 PFNs (two 64 MiB bitmaps): its
// records' target offsets make the logical file large enough, but the bitmaps are not stored.
// Bitmaps are sized from what the file really holds.
TEST(KdumpReaderBadInput, TinyFlattenedFileClaimingHugeBitmaps) {
  KdumpHeader h;
  h.utsname[4] = "x86_64";
  h.sub_hdr_size = 1;
  h.max_mapnr_64 = std::uint64_t{1} << 29;
  h.max_mapnr = static_cast<std::uint32_t>(h.max_mapnr_64);
  h.bitmap_blocks = 2 * static_cast<std::uint32_t>((h.max_mapnr_64 / 8 + 4095) / 4096);
  const auto head = encode_header_blocks(h, {});
  const std::uint64_t bitmaps_end = (1 + 1) * 4096 + std::uint64_t{h.bitmap_blocks} * 4096;
  std::vector<std::byte> flat = encode_flat_header();
  auto record = [&](std::int64_t target, std::span<const std::byte> data, std::int64_t size) {
    std::byte rh[16];
    encode_flat_record_header(target, size, rh);
    flat.insert(flat.end(), rh, rh + 16);
    flat.insert(flat.end(), data.begin(), data.end());
  };
  record(0, head, static_cast<std::int64_t>(head.size()));
  const std::byte one[1] = {};
  record(static_cast<std::int64_t>(bitmaps_end), one, 1); // the logical end, past the bitmaps
  record(-1, {}, -1);
  ASSERT_LT(flat.size(), 16u * 1024);
  test::TempDir dir;
  std::vector<std::uint8_t> bytes(flat.size());
  std::memcpy(bytes.data(), flat.data(), flat.size());
  test::write_file(dir.file("tiny.flat"), bytes);
  auto src = open_dump(dir.file("tiny.flat"));
  ASSERT_FALSE(src);
  EXPECT_EQ(src.error().code, ErrorCode::kBadData);
  EXPECT_NE(src.error().message.find("max_mapnr 536870912 needs 67108864-byte bitmaps"),
            std::string::npos)
      << src.error().message;

  // The same header as a plain 8 KiB file: its bitmap blocks lie past the end of the file.
  std::vector<std::uint8_t> plain(head.size());
  std::memcpy(plain.data(), head.data(), head.size());
  test::write_file(dir.file("tiny.kdump"), plain);
  src = open_dump(dir.file("tiny.kdump"));
  ASSERT_FALSE(src);
  EXPECT_EQ(src.error().code, ErrorCode::kBadData);
  EXPECT_NE(src.error().message.find("bitmap lies past the end of the file (8192 bytes)"),
            std::string::npos)
      << src.error().message;
}

TEST(PageDesc, TwentyFourBytesRoundTrip) {
  std::byte raw[kPageDescSize];
  encode_page_desc({0x123456789, 4000, 0x20, 0}, raw);
  std::int64_t off;
  std::memcpy(&off, raw, 8);
  EXPECT_EQ(off, 0x123456789);
  auto d = decode_page_desc(raw);
  EXPECT_EQ(d.size, 4000u);
  EXPECT_EQ(d.flags, 0x20u);
}

TEST(Flattened, HeaderAndRecordsAreBigEndian) {
  auto h = encode_flat_header();
  ASSERT_EQ(h.size(), 4096u);
  EXPECT_EQ(std::memcmp(h.data(), "makedumpfile\0\0\0\0", 16), 0);
  EXPECT_EQ(h[23], std::byte{1});
  EXPECT_EQ(h[31], std::byte{1});
  EXPECT_TRUE(is_flat_header(h));
  std::byte rec[16];
  encode_flat_record_header(0x0102, 0x0304, rec);
  EXPECT_EQ(rec[6], std::byte{0x01});
  EXPECT_EQ(rec[7], std::byte{0x02});
  EXPECT_EQ(rec[14], std::byte{0x03});
  encode_flat_record_header(-1, -1, rec);
  for (auto b : rec) EXPECT_EQ(b, std::byte{0xff});
}

} // namespace
} // namespace guestdump::formats
