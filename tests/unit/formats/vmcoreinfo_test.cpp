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

TEST(VmcoreInfo, BoundedLookupsRejectLiesByKeyAndValue) {
  auto vi = VmcoreInfo::parse("SIZE(page)=64\n"
                              "SIZE(huge)=1099511627776\n"
                              "OFFSET(page.flags)=0\n"
                              "OFFSET(page.mapping)=18446744073709551612\n" // 2^64 - 4
                              "OFFSET(page.private)=60\n"
                              "LENGTH(zone.free_area)=11\n"
                              "LENGTH(lie)=4294967296\n");
  std::vector<std::string> rejected;
  EXPECT_EQ(vi.size_in("page", 16, 1024, rejected), 64u);
  EXPECT_EQ(vi.offset_in("page.flags", 8, 64, "SIZE(page)", rejected), 0u);
  EXPECT_EQ(vi.length_in("zone.free_area", 1, 64, rejected), 11u);
  EXPECT_FALSE(vi.offset_in("page.absent", 8, 64, "SIZE(page)", rejected)); // absent: no message
  EXPECT_TRUE(rejected.empty());

  // 2^64 - 4 + 8 wraps to 4, which a naive "offset + width > size" check would accept.
  EXPECT_FALSE(vi.offset_in("page.mapping", 8, 64, "SIZE(page)", rejected));
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0], "OFFSET(page.mapping)=18446744073709551612: a 8-byte field there does "
                         "not fit in SIZE(page)=64");
  // In range itself, but the field runs past the structure's end.
  EXPECT_FALSE(vi.offset_in("page.private", 8, 64, "SIZE(page)", rejected));
  EXPECT_FALSE(vi.size_in("huge", 1, 4096, rejected));
  EXPECT_FALSE(vi.length_in("lie", 1, 64, rejected));
  ASSERT_EQ(rejected.size(), 4u);
  EXPECT_NE(rejected[1].find("OFFSET(page.private)=60"), std::string::npos);
  EXPECT_EQ(rejected[2], "SIZE(huge)=1099511627776: outside 1-4096");
  EXPECT_EQ(rejected[3], "LENGTH(lie)=4294967296: outside 1-64");
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
