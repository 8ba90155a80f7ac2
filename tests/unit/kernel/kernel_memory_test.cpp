// The x86_64 translator on hand-built page tables in a synthetic ELF core.

#include "guestdump/kernel/kernel_memory.h"

#include <cstring>

#include <gtest/gtest.h>

#include "elf_core_builder.h"
#include "temp_dir.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

constexpr std::uint64_t kKernelMap = 0xffffffff80000000ULL;

class PageTables {
public:
  explicit PageTables(std::size_t pages) : ram_(pages * 4096, 0) {}
  void set(std::uint64_t table_pa, unsigned idx, std::uint64_t value) {
    std::memcpy(ram_.data() + table_pa + idx * 8, &value, 8);
  }
  void put(std::uint64_t pa, std::string_view s) {
    std::memcpy(ram_.data() + pa, s.data(), s.size());
  }
  std::vector<std::uint8_t>& ram() { return ram_; }

private:
  std::vector<std::uint8_t> ram_;
};

unsigned idx(std::uint64_t va, int shift) {
  return static_cast<unsigned>((va >> shift) & 0x1ff);
}

std::unique_ptr<DumpSource> open_image(const test::TempDir& dir, std::vector<std::uint8_t> ram,
                                       const std::string& vmcoreinfo) {
  test::ElfCoreSpec spec;
  spec.notes = {test::make_vmcoreinfo_note(vmcoreinfo)};
  test::ElfSegment s;
  s.memsz = ram.size();
  s.data = std::move(ram);
  spec.loads = {s};
  test::write_file(dir.file("pt.elf"), test::build_elf_core(spec));
  auto src = open_dump(dir.file("pt.elf"));
  if (!src) throw std::runtime_error(src.error().message);
  return std::move(src).value();
}

// Layout (physical): 0x1000 root, 0x2000 PUD, 0x3000 PMD, 0x4000 PTE, data at 0x10000.
TEST(X86Translator, FourLevelWithSmallAndLargePages) {
  test::TempDir dir;
  PageTables pt(2048); // 8 MiB of RAM
  const std::uint64_t phys_base = 0x0;
  const std::uint64_t root_va = kKernelMap + 0x1000; // init_top_pgt
  const std::uint64_t va4k = 0xffff888000005000ULL;
  const std::uint64_t va2m = 0xffff888000200000ULL + 0x1234;
  const std::uint64_t va1g = 0xffff888040000000ULL + 0x5678;
  pt.set(0x1000, idx(va4k, 39), 0x2000 | 3);
  pt.set(0x2000, idx(va4k, 30), 0x3000 | 3);
  pt.set(0x2000, idx(va1g, 30), 0x0 | 0x83); // 1 GiB page at PA 0
  pt.set(0x3000, idx(va4k, 21), 0x4000 | 3);
  pt.set(0x3000, idx(va2m, 21), 0x600000 | 0x83); // 2 MiB page at 6 MiB
  pt.set(0x4000, idx(va4k, 12), 0x10000 | 3);
  pt.put(0x10000, "four-k");
  std::string vi = "OSRELEASE=t\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\n"
                   "NUMBER(phys_base)=" +
                   std::to_string(phys_base) + "\n";
  auto src = open_image(dir, pt.ram(), vi);
  auto t = X86_64Translator::from_vmcoreinfo(*src->metadata().vmcoreinfo);
  ASSERT_TRUE(t) << t.error().what();
  EXPECT_EQ(t->root(), 0x1000u);
  EXPECT_FALSE(t->five_level());
  (void)root_va;
  PhysicalMemory mem(*src);
  EXPECT_EQ(*t->translate(mem, va4k + 3), 0x10003u);
  EXPECT_EQ(*t->translate(mem, va2m), 0x601234u);
  EXPECT_EQ(*t->translate(mem, va1g), 0x5678u);
  char buf[7] = {};
  ASSERT_TRUE(t->read(mem, va4k, std::as_writable_bytes(std::span(buf, 6))));
  EXPECT_STREQ(buf, "four-k");
  auto missing = t->translate(mem, 0xffffc90000000000ULL);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("not mapped"), std::string::npos);
}

TEST(X86Translator, FiveLevelAndSmeMask) {
  test::TempDir dir;
  PageTables pt(64);
  const std::uint64_t sme = 1ULL << 47;
  const std::uint64_t va = 0xff11000000003000ULL;
  pt.set(0x1000, idx(va, 48), 0x2000 | sme | 3);
  pt.set(0x2000, idx(va, 39), 0x3000 | sme | 3);
  pt.set(0x3000, idx(va, 30), 0x4000 | 3);
  pt.set(0x4000, idx(va, 21), 0x5000 | 3);
  pt.set(0x5000, idx(va, 12), 0x9000 | sme | 3);
  auto src = open_image(dir, pt.ram(),
                        "PAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\n"
                        "NUMBER(pgtable_l5_enabled)=1\nNUMBER(sme_mask)=" +
                            std::to_string(sme) + "\n");
  auto t = X86_64Translator::from_vmcoreinfo(*src->metadata().vmcoreinfo);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->five_level());
  PhysicalMemory mem(*src);
  EXPECT_EQ(*t->translate(mem, va + 8), 0x9008u);
}

TEST(X86Translator, LyingTablesFailCleanly) {
  test::TempDir dir;
  PageTables pt(16);
  const std::uint64_t va = 0xffff888000000000ULL;
  pt.set(0x1000, idx(va, 39), 0x7fff00000000ULL | 3);     // next table far outside RAM
  pt.set(0x1000, idx(va + (1ULL << 39), 39), 0x1000 | 3); // a table pointing at itself
  auto src = open_image(dir, pt.ram(), "PAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\n");
  auto t = X86_64Translator::from_vmcoreinfo(*src->metadata().vmcoreinfo);
  ASSERT_TRUE(t);
  PhysicalMemory mem(*src);
  auto r = t->translate(mem, va);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not in the dump"), std::string::npos) << r.error().message;
  // A self-referencing table ends after at most 4 levels; whatever it yields, it terminates.
  (void)t->translate(mem, va + (1ULL << 39));
  EXPECT_FALSE(X86_64Translator::from_vmcoreinfo(VmcoreInfo::parse("PAGESIZE=4096\n")));
  EXPECT_FALSE(X86_64Translator::from_vmcoreinfo(VmcoreInfo::parse("SYMBOL(init_top_pgt)=1000\n")));
}

TEST(GuestUtsname, ReadsInitUtsNsAndChecksRelease) {
  test::TempDir dir;
  PageTables pt(64);
  // init_uts_ns in the kernel image: PA = VA - __START_KERNEL_map + phys_base (2 MiB page).
  const std::uint64_t uts_va = kKernelMap + 0x8000;
  pt.set(0x1000, idx(uts_va, 39), 0x2000 | 3);
  pt.set(0x2000, idx(uts_va, 30), 0x3000 | 3);
  pt.set(0x3000, idx(uts_va, 21), 0x0 | 0x83);
  const char* fields[] = {"Linux", "guest", "6.1.0-x", "#1 SMP", "x86_64", "(none)"};
  for (int i = 0; i < 6; ++i) pt.put(0x8000 + 4 + static_cast<std::uint64_t>(i) * 65, fields[i]);
  std::string vi = "OSRELEASE=6.1.0-x\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\n"
                   "SYMBOL(init_uts_ns)=ffffffff80008000\nOFFSET(uts_namespace.name)=4\n";
  auto src = open_image(dir, pt.ram(), vi);
  auto uts = read_guest_utsname(*src);
  ASSERT_TRUE(uts) << uts.error().what();
  EXPECT_EQ((*uts)[1], "guest");
  EXPECT_EQ((*uts)[3], "#1 SMP");
  EXPECT_EQ((*uts)[4], "x86_64");

  test::TempDir dir2;
  auto liar = open_image(dir2, pt.ram(), "OSRELEASE=other\n" + vi.substr(vi.find('\n') + 1));
  auto r = read_guest_utsname(*liar);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("does not match"), std::string::npos);

  // A lying offset near 2^64 would wrap init_uts_ns + OFFSET back into the image.
  test::TempDir dir3;
  std::string lie = vi;
  lie.replace(lie.find("OFFSET(uts_namespace.name)=4"), 28,
              "OFFSET(uts_namespace.name)=18446744073709551612");
  auto wrapped = open_image(dir3, pt.ram(), lie);
  r = read_guest_utsname(*wrapped);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadData);
  EXPECT_NE(r.error().message.find("OFFSET(uts_namespace.name)=18446744073709551612"),
            std::string::npos)
      << r.error().message;
}

} // namespace
} // namespace guestdump::kernel
