#include "guestdump/formats/vmcoreinfo.h"

#include <gtest/gtest.h>

namespace guestdump::formats {
namespace {

constexpr const char* kSample = "OSRELEASE=6.1.0-56-cloud-amd64\n"
                                "PAGESIZE=4096\n"
                                "SYMBOL(init_uts_ns)=ffffffffbb61a700\n"
                                "OFFSET(uts_namespace.name)=0\n"
                                "SIZE(page)=64\n"
                                "LENGTH(mem_section)=2048\n"
                                "NUMBER(phys_base)=-2147483648\n"
                                "NUMBER(VMALLOC_START)=0xffffc90000000000\n"
                                "NUMBER(pgtable_l5_enabled)=0\n"
                                "KERNELOFFSET=3a000000\n"
                                "CRASHTIME=1700000000\n"
                                "garbage line without equals\n"
                                "OSRELEASE=second-copy-ignored\n";

TEST(VmcoreInfo, ParsesEveryEncoding) {
  auto vi = VmcoreInfo::parse(std::string(kSample) + std::string(3, '\0'));
  EXPECT_EQ(vi.osrelease(), "6.1.0-56-cloud-amd64");
  EXPECT_EQ(vi.page_size(), 4096u);
  EXPECT_EQ(vi.symbol("init_uts_ns"), 0xffffffffbb61a700ULL); // hex without 0x
  EXPECT_EQ(vi.offset("uts_namespace.name"), 0u);
  EXPECT_EQ(vi.size("page"), 64u);
  EXPECT_EQ(vi.length("mem_section"), 2048u);
  EXPECT_EQ(vi.number("phys_base"), -2147483648LL); // signed decimal
  EXPECT_EQ(vi.number("VMALLOC_START"), static_cast<std::int64_t>(0xffffc90000000000ULL));
  EXPECT_EQ(vi.number("pgtable_l5_enabled"), 0);
  EXPECT_EQ(vi.kernel_offset(), 0x3a000000u);
  EXPECT_EQ(vi.crash_time(), 1700000000);
  EXPECT_EQ(vi.bad_lines(), 1u);
  EXPECT_FALSE(vi.symbol("missing"));
  EXPECT_EQ(vi.text().back(), '\n'); // trailing NULs stripped
}

TEST(VmcoreInfo, MalformedValuesAreAbsentNotWrong) {
  auto vi = VmcoreInfo::parse("SYMBOL(x)=zz\nSIZE(y)=12abc\nNUMBER(z)=\nPAGESIZE=4096");
  EXPECT_FALSE(vi.symbol("x"));
  EXPECT_FALSE(vi.size("y"));
  EXPECT_FALSE(vi.number("z"));
  EXPECT_EQ(vi.page_size(), 4096u); // no final newline
}

TEST(VmcoreInfo, IntegerParsers) {
  EXPECT_EQ(parse_unsigned("0x10", 0), 16u);
  EXPECT_EQ(parse_unsigned("10", 0), 10u);
  EXPECT_FALSE(parse_unsigned("", 10));
  EXPECT_FALSE(parse_unsigned("99999999999999999999", 10));
  EXPECT_EQ(parse_signed("-5", 10), -5);
  EXPECT_FALSE(parse_signed("-", 10));
}

} // namespace
} // namespace guestdump::formats
