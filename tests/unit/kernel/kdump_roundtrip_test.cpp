// Library-level round trips: synthetic ELF core -> kdump (every codec, plain and flattened) ->
// our reader, plus re-conversion of kdump input and the failure paths.

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "guestdump/common/byte_source.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/kernel/convert.h"
#include "temp_dir.h"
#include "test_images.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

namespace fs = std::filesystem;

std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

std::uint64_t be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Independent reassembly of a flattened stream (what makedumpfile -R does).
std::vector<char> reassemble(const std::vector<char>& flat) {
  std::vector<char> out;
  std::size_t pos = 4096;
  while (pos + 16 <= flat.size()) {
    auto off = static_cast<std::int64_t>(be64(&flat[pos]));
    auto size = static_cast<std::int64_t>(be64(&flat[pos + 8]));
    pos += 16;
    if (off == -1) break;
    if (out.size() < static_cast<std::size_t>(off + size))
      out.resize(static_cast<std::size_t>(off + size));
    std::memcpy(out.data() + off, &flat[pos], static_cast<std::size_t>(size));
    pos += static_cast<std::size_t>(size);
  }
  return out;
}

class RoundTrip : public testing::Test {
protected:
  void SetUp() override {
    spec_ = testimg::guest_spec();
    src_ = dir_.file("core.elf");
    test::write_file(src_, test::build_elf_core(spec_));
  }
  ConvertResult convert_ok(const std::string& in, const std::string& out, Codec codec,
                           bool flattened = false, unsigned threads = 2, int level = 1) {
    ConvertOptions o;
    o.input = in;
    o.output = out;
    o.codec = codec;
    o.flattened = flattened;
    o.threads = threads;
    o.dump_level = level;
    auto r = convert(o);
    EXPECT_TRUE(r) << r.error().what();
    if (!r) throw std::runtime_error("convert failed");
    return *r;
  }
  void expect_same_as_source(const std::string& path) {
    auto dump = open_dump(path);
    ASSERT_TRUE(dump) << dump.error().what();
    auto orig = open_dump(src_);
    ASSERT_TRUE(orig);
    const auto& m = (*dump)->metadata();
    const auto& om = (*orig)->metadata();
    EXPECT_EQ(m.ram, om.ram);
    EXPECT_EQ(m.available, om.available);
    EXPECT_EQ(m.nr_cpus, 2);
    ASSERT_TRUE(m.vmcoreinfo);
    EXPECT_EQ(m.vmcoreinfo->osrelease(), "6.1.0-test");
    EXPECT_EQ(m.utsname[2], "6.1.0-test");
    EXPECT_EQ(m.utsname[4], "x86_64");
    EXPECT_EQ(m.timestamp_sec, 1700000000); // CRASHTIME
    EXPECT_EQ(m.phys_base, 16777216u);
    EXPECT_TRUE(testimg::pages_match_spec(**dump, spec_, 304));
  }

  test::TempDir dir_;
  test::ElfCoreSpec spec_;
  std::string src_;
};

class CodecRoundTrip : public RoundTrip, public testing::WithParamInterface<Codec> {};

TEST_P(CodecRoundTrip, PlainAndFlattened) {
  auto plain = dir_.file("out.kdump");
  auto res = convert_ok(src_, plain, GetParam());
  EXPECT_EQ(res.stats.pages_dumped, 304u);
  EXPECT_EQ(res.stats.pages_zero, 128u); // pages 0 and 3 mod 4 of the first segment
  expect_same_as_source(plain);

  auto flat = dir_.file("out.flat");
  auto fres = convert_ok(src_, flat, GetParam(), /*flattened=*/true);
  EXPECT_TRUE(fres.flattened);
  expect_same_as_source(flat); // our reader takes flattened input directly
  EXPECT_EQ(reassemble(slurp(flat)), slurp(plain));

  auto info = inspect(plain);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->dump_level, 1);
  EXPECT_EQ(info->codec, std::string(codec_name(GetParam())));
  EXPECT_EQ(info->pages_zero, 128u);
  EXPECT_EQ(info->pages_dumped, 304u);
  EXPECT_EQ(info->pages_ram, 320u);
  EXPECT_EQ(info->release, "6.1.0-test");

  auto v = verify(plain, src_);
  ASSERT_TRUE(v) << v.error().what();
  EXPECT_EQ(v->pages_compared, 304u);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecRoundTrip,
                         testing::Values(Codec::kZstd, Codec::kZlib, Codec::kLzo, Codec::kSnappy,
                                         Codec::kNone),
                         [](const auto& p) { return std::string(codec_name(p.param)); });

// A file read only through read(), as a remote object is: no mapping to take pointers into.
// Reads at or past `fail_from` fail, as a dropped connection would.
class UnmappedSource final : public ByteSource {
public:
  explicit UnmappedSource(const std::string& path, std::uint64_t fail_from = UINT64_MAX)
      : file_(MappedFile::open(path).value()), fail_from_(fail_from) {}
  const std::string& name() const override { return file_.name(); }
  std::uint64_t size() const override { return file_.size(); }
  Result<void> read(std::uint64_t offset, std::span<std::byte> out) const override {
    ++reads;
    if (offset + out.size() > fail_from_) {
      return make_error(ErrorCode::kOs, "scripted read failure at " + std::to_string(offset));
    }
    return file_.read(offset, out);
  }
  mutable std::atomic<std::uint64_t> reads{0};

private:
  MappedByteSource file_;
  std::uint64_t fail_from_;
};

TEST_F(RoundTrip, ReadsThroughAnUnmappedByteSource) {
  auto plain = dir_.file("out.kdump");
  auto flat = dir_.file("out.flat");
  convert_ok(src_, plain, Codec::kZstd);
  convert_ok(src_, flat, Codec::kZstd, /*flattened=*/true);
  for (const auto& path : {plain, flat}) {
    auto source = std::make_unique<UnmappedSource>(path);
    const UnmappedSource* counted = source.get();
    auto dump = open_dump(std::unique_ptr<ByteSource>(std::move(source)));
    ASSERT_TRUE(dump) << path << ": " << dump.error().what();
    EXPECT_GT(counted->reads.load(), 0u);
    auto mapped = open_dump(path);
    ASSERT_TRUE(mapped);
    EXPECT_EQ((*dump)->metadata().available, (*mapped)->metadata().available);
    EXPECT_EQ((*dump)->metadata().format, (*mapped)->metadata().format);
    EXPECT_TRUE(testimg::pages_match_spec(**dump, spec_, 304)) << path;
    auto zero = (*dump)->shared_zero_pages();
    ASSERT_TRUE(zero);
    EXPECT_EQ(*zero, std::optional<std::uint64_t>(128));
  }
  auto local = inspect(plain);
  auto remote = inspect(std::make_unique<UnmappedSource>(plain));
  ASSERT_TRUE(local);
  ASSERT_TRUE(remote) << remote.error().what();
  EXPECT_EQ(remote->file_size, local->file_size);
  EXPECT_EQ(remote->pages_zero, local->pages_zero);
  EXPECT_EQ(remote->release, local->release);
  EXPECT_EQ(remote->codec, local->codec);

  // ELF cores are read only from local files.
  auto elf = open_dump(std::unique_ptr<ByteSource>(std::make_unique<UnmappedSource>(src_)));
  ASSERT_FALSE(elf);
  EXPECT_EQ(elf.error().code, ErrorCode::kUnsupported);

  // A read failing in the data area fails the page it was for, naming its PFN.
  const auto size = std::filesystem::file_size(plain);
  auto failing =
      open_dump(std::unique_ptr<ByteSource>(std::make_unique<UnmappedSource>(plain, size - 4096)));
  ASSERT_TRUE(failing) << failing.error().what();
  auto reader = (*failing)->make_reader();
  std::vector<std::byte> scratch(4096);
  bool failed = false;
  const auto& available = (*failing)->metadata().available;
  for (std::uint64_t pfn = 0; pfn < (*failing)->metadata().max_pfn; ++pfn) {
    if (!available.test(pfn)) continue;
    auto page = reader->read(pfn, scratch);
    if (!page) {
      failed = true;
      EXPECT_NE(page.error().message.find("PFN " + std::to_string(pfn)), std::string::npos);
      EXPECT_NE(page.error().message.find("scripted read failure"), std::string::npos);
    }
  }
  EXPECT_TRUE(failed);
}

// with_metadata() and view_with_metadata() change what a source says, never what it reads.
TEST_F(RoundTrip, MetadataViewKeepsPagesAndZeroCount) {
  auto plain = dir_.file("out.kdump");
  convert_ok(src_, plain, Codec::kZstd);
  auto dump = open_dump(plain);
  ASSERT_TRUE(dump);
  DumpMetadata meta = (*dump)->metadata();
  meta.vmcoreinfo = VmcoreInfo::parse("OSRELEASE=9.9.9-view\nPAGESIZE=4096\n");
  meta.vmcoreinfo_origin = "test";
  auto view = view_with_metadata(**dump, meta);
  auto owned = with_metadata(std::move(dump).value(), meta);
  for (const DumpSource* s : {view.get(), owned.get()}) {
    ASSERT_TRUE(s->metadata().vmcoreinfo);
    EXPECT_EQ(s->metadata().vmcoreinfo->osrelease(), "9.9.9-view");
    EXPECT_EQ(s->metadata().vmcoreinfo_origin, "test");
    EXPECT_TRUE(testimg::pages_match_spec(*s, spec_, 304));
    auto zero = s->shared_zero_pages();
    ASSERT_TRUE(zero);
    EXPECT_EQ(*zero, std::optional<std::uint64_t>(128));
  }
}

TEST_F(RoundTrip, OutputIsIndependentOfThreadCount) {
  convert_ok(src_, dir_.file("t1"), Codec::kZstd, false, 1);
  convert_ok(src_, dir_.file("t3"), Codec::kZstd, false, 3);
  EXPECT_EQ(slurp(dir_.file("t1")), slurp(dir_.file("t3")));
}

TEST_F(RoundTrip, DumpLevelZeroKeepsZeroPagesAsData) {
  auto res = convert_ok(src_, dir_.file("d0"), Codec::kZstd, false, 2, 0);
  EXPECT_EQ(res.stats.pages_zero, 0u);
  EXPECT_EQ(res.stats.pages_dumped, 304u);
  expect_same_as_source(dir_.file("d0"));
}

TEST_F(RoundTrip, ReconvertsKdumpInput) {
  convert_ok(src_, dir_.file("a.kdump"), Codec::kZstd);
  convert_ok(dir_.file("a.kdump"), dir_.file("b.kdump"), Codec::kZlib);
  expect_same_as_source(dir_.file("b.kdump"));
  convert_ok(src_, dir_.file("a.flat"), Codec::kLzo, true);
  convert_ok(dir_.file("a.flat"), dir_.file("c.kdump"), Codec::kSnappy);
  expect_same_as_source(dir_.file("c.kdump"));
}

TEST_F(RoundTrip, OutOfRangeDumpLevelIsRejectedWithoutOutput) {
  ConvertOptions o;
  o.input = src_;
  o.output = dir_.file("x.kdump");
  o.dump_level = 32;
  auto r = convert(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(o.output));
}

TEST_F(RoundTrip, CorruptedDescriptorIsNamedAndLeavesNoOutput) {
  auto good = dir_.file("good.kdump");
  convert_ok(src_, good, Codec::kZstd);
  auto bytes = slurp(good);
  // Descriptor table: (1 + sub_hdr_size + bitmap_blocks) blocks; header fields at 432/436.
  std::int32_t sub_hdr;
  std::uint32_t bitmap_blocks;
  std::memcpy(&sub_hdr, &bytes[432], 4);
  std::memcpy(&bitmap_blocks, &bytes[436], 4);
  std::size_t desc = (1 + static_cast<std::size_t>(sub_hdr) + bitmap_blocks) * 4096;
  std::int64_t bogus = 1LL << 40;
  std::memcpy(&bytes[desc + 24 * 5], &bogus, 8); // 6th dumped page: PFN 5
  std::ofstream(dir_.file("bad.kdump"), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  auto v = verify(dir_.file("bad.kdump"), std::nullopt);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("PFN 5"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("bad.kdump"), std::string::npos) << v.error().message;

  ConvertOptions o;
  o.input = dir_.file("bad.kdump");
  o.output = dir_.file("out.kdump");
  auto r = convert(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("PFN 5"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.output));
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  }
}

TEST_F(RoundTrip, VerifyAgainstDetectsADifferentPage) {
  auto out = dir_.file("o.kdump");
  convert_ok(src_, out, Codec::kZstd);
  spec_.loads[0].data[4096 * 5 + 100] ^= 0xff; // PFN 5 differs in the "source"
  test::write_file(dir_.file("other.elf"), test::build_elf_core(spec_));
  auto v = verify(out, dir_.file("other.elf"));
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("PFN 5 differs"), std::string::npos) << v.error().message;
}

TEST_F(RoundTrip, TruncatedKdumpIsRejected) {
  auto out = dir_.file("o.kdump");
  convert_ok(src_, out, Codec::kZstd);
  auto bytes = slurp(out);
  for (std::size_t keep : {std::size_t{100}, std::size_t{5000}, std::size_t{20000}}) {
    std::ofstream(dir_.file("t.kdump"), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(keep));
    auto r = open_dump(dir_.file("t.kdump"));
    EXPECT_FALSE(r) << "kept " << keep;
  }
  // Cut inside page data: opens, but reading the last pages fails cleanly.
  std::ofstream(dir_.file("t.kdump"), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 3000));
  EXPECT_FALSE(verify(dir_.file("t.kdump"), std::nullopt));
}

} // namespace
} // namespace guestdump::kernel
