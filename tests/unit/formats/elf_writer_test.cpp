// The filtered ELF core writer: layout (Ehdr, phdrs at 64, PT_NOTE first, PT_LOADs with
// excluded tails), read-back through our own ELF reader page by page, and PN_XNUM.

#include "guestdump/formats/elf_writer.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "guestdump/formats/elf_notes.h"
#include "temp_dir.h"
#include "test_images.h"

namespace guestdump::formats {
namespace {

std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

Result<ElfWriteStats> write_to(const std::string& path, const ElfWriteRequest& req) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("open " + path);
  auto r = write_elf_core(req, fd, path);
  ::close(fd);
  return r;
}

std::vector<Elf64_Phdr> phdrs_of(const std::vector<char>& f) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  std::size_t n = eh.e_phnum;
  if (n == PN_XNUM) {
    Elf64_Shdr sh;
    std::memcpy(&sh, f.data() + eh.e_shoff, sizeof sh);
    n = sh.sh_info;
  }
  std::vector<Elf64_Phdr> out(n);
  std::memcpy(out.data(), f.data() + eh.e_phoff, n * sizeof(Elf64_Phdr));
  return out;
}

TEST(ElfWriter, FilteredCoreReadsBackPageForPage) {
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  test::write_file(dir.file("src.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("src.elf"));
  ASSERT_TRUE(src) << src.error().message;
  const DumpMetadata& meta = (*src)->metadata();

  // Keep a pattern with short and long excluded runs, and a RAM range that starts excluded.
  PfnBitmap keep = meta.available;
  for (std::uint64_t pfn = 0; pfn < keep.size(); ++pfn) {
    if (pfn % 7 == 3 || (pfn >= 40 && pfn < 100) || (pfn >= 1024 && pfn < 1030)) keep.clear(pfn);
  }
  ElfWriteRequest req;
  req.source = src->get();
  req.notes = meta.notes;
  req.ram = &meta.ram;
  req.dumpable = &keep;
  std::uint64_t last_done = 0;
  req.progress = [&](std::uint64_t done, std::uint64_t) { last_done = done; };
  auto stats = write_to(dir.file("out.elf"), req);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pages_dumped, keep.count());
  EXPECT_EQ(last_done, keep.count());

  auto f = slurp(dir.file("out.elf"));
  EXPECT_EQ(stats->file_size, f.size());
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  EXPECT_EQ(eh.e_type, ET_CORE);
  EXPECT_EQ(eh.e_machine, EM_X86_64);
  EXPECT_EQ(eh.e_phoff, 64u); // makedumpfile 1.7.2 assumes the table right after the header
  auto ph = phdrs_of(f);
  ASSERT_EQ(ph.size(), stats->segments + 1);
  ASSERT_EQ(ph[0].p_type, PT_NOTE); // crash assumes phdr 0 is the note
  ASSERT_EQ(ph[0].p_filesz, meta.notes.size());
  EXPECT_EQ(std::memcmp(f.data() + ph[0].p_offset, meta.notes.data(), meta.notes.size()), 0);
  std::uint64_t prev_end = 0;
  for (std::size_t i = 1; i < ph.size(); ++i) {
    EXPECT_EQ(ph[i].p_type, PT_LOAD);
    EXPECT_LE(ph[i].p_filesz, ph[i].p_memsz);
    EXPECT_EQ(ph[i].p_vaddr, ph[i].p_paddr);
    EXPECT_EQ(ph[i].p_align, 0u);
    EXPECT_GE(ph[i].p_paddr, prev_end);
    EXPECT_LE(ph[i].p_offset + ph[i].p_filesz, f.size());
    prev_end = ph[i].p_paddr + ph[i].p_memsz;
    // Every segment begins at a kept page or at the start of a RAM range.
    const std::uint64_t pfn = ph[i].p_paddr / 4096;
    EXPECT_TRUE(keep.test(pfn) || pfn == 0 || !meta.ram.test(pfn - 1)) << "segment " << i;
  }

  auto back = open_dump(dir.file("out.elf"));
  ASSERT_TRUE(back) << back.error().message;
  const DumpMetadata& bm = (*back)->metadata();
  EXPECT_EQ(bm.ram, meta.ram); // excluded pages stay RAM (p_memsz), only their data is gone
  PfnBitmap want = keep;
  want.intersect(meta.ram);
  EXPECT_EQ(bm.available, want);
  ASSERT_TRUE(bm.vmcoreinfo);
  EXPECT_EQ(bm.nr_cpus, 2);
  auto r1 = (*back)->make_reader();
  std::vector<std::byte> scratch(4096);
  std::uint64_t compared = 0;
  for (std::uint64_t pfn = want.next_set(0); pfn < want.size(); pfn = want.next_set(pfn + 1)) {
    auto page = r1->read(pfn, scratch);
    ASSERT_TRUE(page) << page.error().message;
    auto exp = testimg::expected_page(spec, pfn);
    ASSERT_EQ(std::memcmp(*page, exp.data(), 4096), 0) << "PFN " << pfn;
    ++compared;
  }
  EXPECT_EQ(compared, keep.count());
}

TEST(ElfWriter, NothingKeptStillDescribesRam) {
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  test::write_file(dir.file("src.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("src.elf"));
  ASSERT_TRUE(src);
  const DumpMetadata& meta = (*src)->metadata();
  PfnBitmap none(meta.ram.size());
  ElfWriteRequest req;
  req.source = src->get();
  req.notes = meta.notes;
  req.ram = &meta.ram;
  req.dumpable = &none;
  auto stats = write_to(dir.file("out.elf"), req);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pages_dumped, 0u);
  EXPECT_EQ(stats->segments, 2u); // one data-less PT_LOAD per RAM range
  auto back = open_dump(dir.file("out.elf"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ((*back)->metadata().ram, meta.ram);
  EXPECT_EQ((*back)->metadata().available.count(), 0u);
}

TEST(ElfWriter, WriteErrorsNameTheOutput) {
  test::TempDir dir;
  auto spec = testimg::guest_spec();
  test::write_file(dir.file("src.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("src.elf"));
  ASSERT_TRUE(src);
  const DumpMetadata& meta = (*src)->metadata();
  ElfWriteRequest req;
  req.source = src->get();
  req.notes = meta.notes;
  req.ram = &meta.ram;
  req.dumpable = &meta.available;
  int fd = ::open("/dev/full", O_WRONLY);
  ASSERT_GE(fd, 0);
  auto r = write_elf_core(req, fd, "/dev/full");
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/dev/full"), std::string::npos) << r.error().message;
}

// A guest whose kept pages form 0xffff or more runs: the program header count moves to
// section header 0 (PN_XNUM). The source is generated, not stored.
class PatternSource final : public DumpSource {
public:
  explicit PatternSource(std::uint64_t pages, std::string vmcoreinfo = testimg::kVmcoreinfo,
                         std::function<bool(std::uint64_t)> zero = {})
      : vmcoreinfo_(std::move(vmcoreinfo)), zero_(std::move(zero)) {
    meta_.path = "pattern";
    meta_.format = "elf64";
    meta_.max_pfn = pages;
    meta_.ram = PfnBitmap(pages);
    meta_.ram.assign_range(0, pages, true);
    meta_.available = meta_.ram;
    meta_.vmcoreinfo = VmcoreInfo::parse(vmcoreinfo_);
    append_note(meta_.notes, "VMCOREINFO", 0, std::as_bytes(std::span(vmcoreinfo_)));
  }
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override {
    struct Reader final : PageReader {
      const std::function<bool(std::uint64_t)>* zero = nullptr;
      Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
        if (*zero && (*zero)(pfn)) {
          std::memset(scratch.data(), 0, scratch.size());
          return scratch.data();
        }
        std::memset(scratch.data(), static_cast<int>(pfn & 0xff), scratch.size());
        std::memcpy(scratch.data(), &pfn, sizeof pfn);
        return scratch.data();
      }
    };
    auto r = std::make_unique<Reader>();
    r->zero = &zero_;
    return r;
  }

private:
  std::string vmcoreinfo_;
  std::function<bool(std::uint64_t)> zero_;
  DumpMetadata meta_;
};

// Dump level 1: zero pages go only in runs of 256 or more (makedumpfile -E keeps shorter
// excluded runs), so small all-zero kernel structures stay readable.
TEST(ElfWriter, DumpLevelOneExcludesLongZeroRuns) {
  test::TempDir dir;
  PatternSource src(2048, testimg::kVmcoreinfo, [](std::uint64_t pfn) {
    return (pfn >= 300 && pfn < 700) || (pfn >= 800 && pfn < 900) || pfn == 1000;
  });
  const DumpMetadata& meta = src.metadata();
  ElfWriteRequest req;
  req.source = &src;
  req.notes = meta.notes;
  req.ram = &meta.ram;
  req.dumpable = &meta.available;
  req.exclude_zero_pages = true;
  auto stats = write_to(dir.file("z.elf"), req);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pages_zero, 400u);
  EXPECT_EQ(stats->pages_dumped, 2048u - 400u);
  auto back = open_dump(dir.file("z.elf"));
  ASSERT_TRUE(back) << back.error().message;
  PfnBitmap want = meta.available;
  want.assign_range(300, 400, false);
  EXPECT_EQ((*back)->metadata().available, want);
  EXPECT_EQ((*back)->metadata().ram, meta.ram);
}

// A 2048-page guest whose init_top_pgt (VA ...81200000, phys_base -16 MiB) is PA 0x200000
// (PFN 512), written as ELF with `hole_len` pages from `hole` not kept.
struct KernelAliasCase {
  PfnBitmap keep;
  PfnBitmap ram;
  std::uint64_t segments = 0;
  std::vector<char> file;
  std::vector<Elf64_Phdr> ph;
};
KernelAliasCase write_kernel_alias_case(const test::TempDir& dir, const std::string& name,
                                        std::uint64_t hole, std::uint64_t hole_len) {
  PatternSource src(2048,
                    std::string("OSRELEASE=6.1.0-test\nPAGESIZE=4096\n") +
                        "SYMBOL(init_top_pgt)=ffffffff81200000\n"
                        "NUMBER(phys_base)=-16777216\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n");
  const DumpMetadata& meta = src.metadata();
  KernelAliasCase c{meta.available, meta.ram, 0, {}, {}};
  c.keep.assign_range(hole, hole_len, false);
  ElfWriteRequest req;
  req.source = &src;
  req.notes = meta.notes;
  req.ram = &meta.ram;
  req.dumpable = &c.keep;
  auto stats = write_to(dir.file(name), req);
  EXPECT_TRUE(stats) << stats.error().message;
  if (!stats) return c;
  c.segments = stats->segments;
  c.file = slurp(dir.file(name));
  c.ph = phdrs_of(c.file);
  EXPECT_EQ(c.ph.size(), c.segments + 1);
  return c;
}

// The kernel-image PT_LOAD (drgn reads the top-level page table through it): VA =
// __START_KERNEL_map + PA - phys_base, sharing the file bytes of the kept run with init_top_pgt.
TEST(ElfWriter, KernelImageAliasForDrgn) {
  test::TempDir dir;
  auto c = write_kernel_alias_case(dir, "k.elf", 100, 10); // the run with PFN 512 is [110, 2048)
  ASSERT_GE(c.ph.size(), 2u);
  const Elf64_Phdr& k = c.ph[1]; // first PT_LOAD, as the kernel-text one of /proc/vmcore
  EXPECT_EQ(k.p_type, PT_LOAD);
  EXPECT_EQ(k.p_paddr, 512u * 4096); // init_top_pgt's page
  EXPECT_EQ(k.p_vaddr, 0xffffffff81200000ULL);
  EXPECT_EQ(k.p_filesz, 4096u);
  EXPECT_EQ(k.p_memsz, k.p_filesz);
  // A copy of the page's bytes (makedumpfile cannot read PT_LOADs sharing file data).
  std::uint64_t pfn = 0;
  std::memcpy(&pfn, c.file.data() + k.p_offset, 8);
  EXPECT_EQ(pfn, 512u);
  for (std::size_t i = 2; i < c.ph.size(); ++i) {
    EXPECT_FALSE(k.p_offset < c.ph[i].p_offset + c.ph[i].p_filesz &&
                 c.ph[i].p_offset < k.p_offset + k.p_filesz)
        << "phdr " << i << " shares file bytes with the kernel-image segment";
  }
  auto back = open_dump(dir.file("k.elf"));
  ASSERT_TRUE(back) << back.error().message; // the alias is accepted as identical bytes
  EXPECT_EQ((*back)->metadata().available, c.keep);
}

// init_top_pgt's page first in its kept run: the kernel-image PT_LOAD and the RAM piece then
// start at the same address, as /proc/vmcore's may, and the output still reads back.
TEST(ElfWriter, KernelImageAliasAtTheStartOfARun) {
  test::TempDir dir;
  auto c = write_kernel_alias_case(dir, "s.elf", 500, 12); // the run with PFN 512 is [512, 2048)
  ASSERT_GE(c.ph.size(), 2u);
  const Elf64_Phdr& k = c.ph[1];
  EXPECT_EQ(k.p_paddr, 512u * 4096);
  EXPECT_EQ(k.p_vaddr, 0xffffffff81200000ULL);
  EXPECT_EQ(k.p_filesz, 4096u);
  bool piece = false;
  for (std::size_t i = 2; i < c.ph.size(); ++i) {
    EXPECT_NE(c.ph[i].p_memsz, 0u) << "phdr " << i << " is empty";
    if (c.ph[i].p_paddr == 512u * 4096) piece = c.ph[i].p_filesz == 4096u;
  }
  EXPECT_TRUE(piece) << "no one-page RAM piece at the alias's address";
  auto back = open_dump(dir.file("s.elf"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ((*back)->metadata().available, c.keep);
  EXPECT_EQ((*back)->metadata().ram, c.ram);
}

TEST(ElfWriter, ExtendedProgramHeaderNumbering) {
  test::TempDir dir;
  const std::uint64_t pages = 2 * 0x10000;
  PatternSource src(pages);
  PfnBitmap keep(pages);
  for (std::uint64_t pfn = 0; pfn < pages; pfn += 2) keep.set(pfn); // 65536 runs
  ElfWriteRequest req;
  req.source = &src;
  req.notes = src.metadata().notes;
  req.ram = &src.metadata().ram;
  req.dumpable = &keep;
  auto stats = write_to(dir.file("x.elf"), req);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->segments, 0x10000u);
  auto back = open_dump(dir.file("x.elf"));
  ASSERT_TRUE(back) << back.error().message;
  const DumpMetadata& bm = (*back)->metadata();
  EXPECT_EQ(bm.ram.count(), pages);
  EXPECT_EQ(bm.available, keep);
  auto rd = (*back)->make_reader();
  std::vector<std::byte> scratch(4096);
  for (std::uint64_t pfn : {0ULL, 2ULL, 0x1fffeULL, 0x10000ULL}) {
    auto page = rd->read(pfn, scratch);
    ASSERT_TRUE(page) << page.error().message;
    std::uint64_t got = 0;
    std::memcpy(&got, *page, 8);
    EXPECT_EQ(got, pfn);
  }
  int fd = ::open(dir.file("x.elf").c_str(), O_RDONLY);
  Elf64_Ehdr eh;
  ASSERT_EQ(::pread(fd, &eh, sizeof eh, 0), static_cast<ssize_t>(sizeof eh));
  ::close(fd);
  EXPECT_EQ(eh.e_phnum, PN_XNUM);
  EXPECT_EQ(eh.e_shnum, 1);
  EXPECT_EQ(eh.e_phoff, 64u);
  EXPECT_EQ(eh.e_shoff, 64u + (0x10000u + 1) * sizeof(Elf64_Phdr));
}

} // namespace
} // namespace guestdump::formats
