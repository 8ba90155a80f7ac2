// Streaming capture: a synthetic ELF core pushed through a real pipe, spooled, read back,
// filtered and compacted; checked with the kdump reader and verify() against the ELF file.

#include "guestdump/formats/stream_capture.h"

#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include "guestdump/formats/dump_source.h"
#include "guestdump/kernel/convert.h"
#include "temp_dir.h"
#include "test_images.h"

namespace guestdump::formats {

// The spool and the Xen reader are checked end to end through the converter.
using namespace guestdump::kernel;

namespace {

namespace fs = std::filesystem;

class StreamCapture : public testing::Test {
protected:
  void SetUp() override {
    spec_ = testimg::guest_spec();
    bytes_ = test::build_elf_core(spec_);
    src_ = dir_.file("core.elf");
    test::write_file(src_, bytes_);
  }

  // Feeds `len` bytes of the core (all by default) into a pipe from a thread and receives it.
  Result<std::unique_ptr<SpooledDump>> receive(const std::string& out, std::size_t len = SIZE_MAX,
                                               Codec codec = Codec::kZstd) {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    len = std::min(len, bytes_.size());
    std::thread writer([&, wfd = p[1]] {
      std::size_t done = 0;
      while (done < len) {
        // Odd write sizes, so reads see split pages.
        ssize_t n = ::write(wfd, bytes_.data() + done, std::min<std::size_t>(len - done, 12345));
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      ::close(wfd);
    });
    StreamCaptureOptions o;
    o.input_fd = p[0];
    o.input_name = "test stream";
    o.output = out;
    o.codec = codec;
    o.threads = 2;
    auto r = SpooledDump::receive(o);
    // Drain so the writer never blocks on a failed receive.
    char sink[4096];
    while (::read(p[0], sink, sizeof sink) > 0) {
    }
    writer.join();
    ::close(p[0]);
    return r;
  }

  KdumpHeader identity(const DumpSource& s, int level) {
    KdumpHeader h;
    h.arch = s.metadata().arch;
    h.utsname = {"Linux", "test", "6.1.0-test", "#1", "x86_64", ""};
    h.dump_level = level;
    h.nr_cpus = s.metadata().nr_cpus;
    return h;
  }

  test::ElfCoreSpec spec_;
  std::vector<std::uint8_t> bytes_;
  test::TempDir dir_;
  std::string src_;
};

// A guest can place a RAM-backed device BAR far above its RAM, and QEMU's dump includes it as
// a PT_LOAD: the spool's records follow the RAM pages, not the PFN range, so a hole of 2^27 PFNs
// (512 GiB) costs no 2 GiB of zeroed records.
TEST_F(StreamCapture, FarSegmentCostsNoRecordsForTheHole) {
  test::ElfSegment bar;
  bar.paddr = std::uint64_t{1} << 39;
  bar.vaddr = bar.paddr;
  bar.memsz = 4096;
  auto page = test::make_page(77, 4096, true);
  bar.data.assign(page.begin(), page.end());
  spec_.loads.push_back(bar);
  bytes_ = test::build_elf_core(spec_);
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  auto spool = receive(dir_.file("far.kdump"));
  ASSERT_TRUE(spool) << spool.error().message;
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  // ru_maxrss is in KiB; PFN-indexed records would have touched 2 GiB.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 256 * 1024);
  auto reader = (*spool)->make_reader();
  std::vector<std::byte> scratch(4096);
  auto got = reader->read(bar.paddr / 4096, scratch);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(std::memcmp(*got, page.data(), 4096), 0);
}

TEST_F(StreamCapture, SpoolReadsBackEveryPage) {
  auto spool = receive(dir_.file("out.kdump"));
  ASSERT_TRUE(spool) << spool.error().message;
  auto elf = open_elf_core(src_);
  ASSERT_TRUE(elf);
  const auto& m = (*spool)->metadata();
  EXPECT_EQ(m.ram, (*elf)->metadata().ram);
  EXPECT_EQ(m.available, (*elf)->metadata().available);
  EXPECT_EQ(m.nr_cpus, 2);
  ASSERT_TRUE(m.vmcoreinfo);
  EXPECT_EQ((*spool)->bytes_received(), bytes_.size());
  auto reader = (*spool)->make_reader();
  std::vector<std::byte> scratch(4096);
  std::uint64_t checked = 0;
  for (std::uint64_t pfn = m.available.next_set(0); pfn < m.available.size();
       pfn = m.available.next_set(pfn + 1)) {
    auto page = reader->read(pfn, scratch);
    ASSERT_TRUE(page) << page.error().message;
    auto want = testimg::expected_page(spec_, pfn);
    ASSERT_EQ(std::memcmp(*page, want.data(), 4096), 0) << "pfn " << pfn;
    ++checked;
  }
  EXPECT_EQ(checked, 256u + 48u);
  // Nothing is visible under the final name before finish().
  EXPECT_FALSE(fs::exists(dir_.file("out.kdump")));
}

TEST_F(StreamCapture, FinishWritesAKdumpEqualToTheSource) {
  const std::string out = dir_.file("out.kdump");
  auto spool = receive(out);
  ASSERT_TRUE(spool) << spool.error().message;
  const auto& m = (*spool)->metadata();
  auto stats = (*spool)->finish(identity(**spool, 1), m.notes, m.available, true);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pages_dumped, m.available.count());
  EXPECT_EQ(stats->pages_zero, 128u); // low pages i % 4 == 0 or 3
  EXPECT_EQ(fs::file_size(out), stats->file_size);
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  auto v = verify(out, src_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->pages_compared, m.available.count());
}

TEST_F(StreamCapture, FilteredPagesAreCompactedAway) {
  const std::string full = dir_.file("full.kdump");
  const std::string part = dir_.file("part.kdump");
  std::uint64_t full_size = 0;
  {
    auto spool = receive(full);
    ASSERT_TRUE(spool);
    auto s = (*spool)->finish(identity(**spool, 1), (*spool)->metadata().notes,
                              (*spool)->metadata().available, true);
    ASSERT_TRUE(s);
    full_size = s->file_size;
  }
  auto spool = receive(part);
  ASSERT_TRUE(spool);
  const auto& m = (*spool)->metadata();
  PfnBitmap keep = m.available;
  std::uint64_t dropped = 0;
  for (std::uint64_t pfn = keep.next_set(0); pfn < keep.size(); pfn = keep.next_set(pfn + 1)) {
    if (pfn % 3 == 0) {
      keep.clear(pfn);
      ++dropped;
    }
  }
  auto stats = (*spool)->finish(identity(**spool, 31), m.notes, keep, true);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pages_dumped, m.available.count() - dropped);
  EXPECT_LT(stats->file_size, full_size);
  // Every kept page equals the source; every dropped page is absent.
  auto v = verify(part, std::nullopt);
  ASSERT_TRUE(v) << v.error().message;
  auto kd = open_kdump(part);
  ASSERT_TRUE(kd) << kd.error().message;
  EXPECT_EQ((*kd)->metadata().available, keep);
  auto reader = (*kd)->make_reader();
  std::vector<std::byte> scratch(4096);
  for (std::uint64_t pfn = keep.next_set(0); pfn < keep.size(); pfn = keep.next_set(pfn + 1)) {
    auto page = reader->read(pfn, scratch);
    ASSERT_TRUE(page) << page.error().message;
    auto want = testimg::expected_page(spec_, pfn);
    ASSERT_EQ(std::memcmp(*page, want.data(), 4096), 0) << "pfn " << pfn;
  }
}

TEST_F(StreamCapture, WithoutZeroSharingEveryZeroPageIsStored) {
  const std::string out = dir_.file("out.kdump");
  auto spool = receive(out, SIZE_MAX, Codec::kZlib);
  ASSERT_TRUE(spool);
  const auto& m = (*spool)->metadata();
  auto stats = (*spool)->finish(identity(**spool, 0), m.notes, m.available, false);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pages_zero, 0u);
  auto v = verify(out, src_);
  ASSERT_TRUE(v) << v.error().message;
  auto info = inspect(out);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pages_zero.value_or(0), 0u);
}

TEST_F(StreamCapture, CutShortStreamFailsAndLeavesNothing) {
  const std::string out = dir_.file("out.kdump");
  auto spool = receive(out, bytes_.size() / 2);
  ASSERT_FALSE(spool);
  EXPECT_NE(spool.error().message.find("ended after"), std::string::npos) << spool.error().message;
  EXPECT_NE(spool.error().message.find("test stream"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  // Only the source ELF remains: the spool temporary is gone.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1);
}

TEST_F(StreamCapture, CutInsideHeadersFails) {
  auto spool = receive(dir_.file("out.kdump"), 100);
  ASSERT_FALSE(spool);
  EXPECT_NE(spool.error().message.find("ELF headers"), std::string::npos) << spool.error().message;
}

TEST_F(StreamCapture, UnfinishedSpoolLeavesNoFile) {
  const std::string out = dir_.file("out.kdump");
  {
    auto spool = receive(out);
    ASSERT_TRUE(spool);
  }
  EXPECT_FALSE(fs::exists(out));
  // Only the source ELF remains: the spool temporary is gone.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1);
}

TEST_F(StreamCapture, NotAnElfStreamIsRejected) {
  bytes_.assign(8192, 0x41);
  auto spool = receive(dir_.file("out.kdump"));
  ASSERT_FALSE(spool);
  EXPECT_NE(spool.error().message.find("not an ELF"), std::string::npos);
}

} // namespace
} // namespace guestdump::formats
