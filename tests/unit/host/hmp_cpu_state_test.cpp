// HMP `info registers -a` and `xp` output into dump notes and bytes (the selective capture of
// libvirt domains, which may not ask QEMU for a dump).

#include "hmp_cpu_state.h"

#include <cstring>

#include <gtest/gtest.h>

#include "guestdump/formats/elf_notes.h"

namespace guestdump::host::detail {
namespace {

// QEMU 7.2's layout (target/i386/cpu-dump.c), two vCPUs in long mode, FPU lines cut.
constexpr const char* kTwoCpus =
    "\nCPU#0\n"
    "RAX=0000000000000001 RBX=0000000000000002 RCX=0000000000000003 RDX=0000000000000004\n"
    "RSI=0000000000000005 RDI=0000000000000006 RBP=0000000000000007 RSP=ffffc90000013e38\n"
    "R8 =0000000000000009 R9 =000000000000000a R10=000000000000000b R11=000000000000000c\n"
    "R12=000000000000000d R13=000000000000000e R14=000000000000000f R15=0000000000000010\n"
    "RIP=ffffffff81a0c2e1 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
    "ES =0000 0000000000000000 00000000 00000000\n"
    "CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]\n"
    "SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]\n"
    "DS =0000 0000000000000000 00000000 00000000\n"
    "FS =0000 00007f0000001000 00000000 00000000\n"
    "GS =0000 ffff88800f800000 00000000 00000000\n"
    "LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\n"
    "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\n"
    "GDT=     fffffe0000001000 0000007f\n"
    "IDT=     fffffe0000000000 00000fff\n"
    "CR0=80050033 CR2=00007f1e2c3d4000 CR3=000000000b40a000 CR4=00350ef0\n"
    "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \n"
    "DR6=00000000ffff0ff0 DR7=0000000000000400\n"
    "EFER=0000000000000d01\n"
    "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\n"
    "\nCPU#1\n"
    "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000\n"
    "RSI=0000000000000000 RDI=0000000000000000 RBP=0000000000000000 RSP=0000000000000000\n"
    "R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000\n"
    "R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000\n"
    "RIP=ffffffff81000000 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
    "CR0=80050033 CR2=0000000000000000 CR3=000000000b40a000 CR4=00350ef0\n";

template <typename T> T at(const std::vector<std::byte>& d, std::size_t off) {
  T v;
  std::memcpy(&v, d.data() + off, sizeof v);
  return v;
}

TEST(HmpCpuState, ParsesEveryCpu) {
  auto r = parse_info_registers(kTwoCpus);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->size(), 2u);
  const auto& c = (*r)[0];
  EXPECT_EQ(c.index, 0);
  EXPECT_EQ(c.gpr[0], 1u);
  EXPECT_EQ(c.gpr[7], 0xffffc90000013e38u); // rsp
  EXPECT_EQ(c.gpr[8], 9u);                  // "R8 =" with its padding
  EXPECT_EQ(c.gpr[15], 0x10u);
  EXPECT_EQ(c.rip, 0xffffffff81a0c2e1u);
  EXPECT_EQ(c.rflags, 0x246u);
  EXPECT_EQ(c.seg[1].selector, 0x10u);
  EXPECT_EQ(c.seg[1].flags, 0x00a09b00u);
  EXPECT_EQ(c.seg[5].base, 0xffff88800f800000u);
  EXPECT_EQ(c.seg[7].selector, 0x40u);
  EXPECT_EQ(c.seg[7].limit, 0x4087u);
  EXPECT_EQ(c.gdt_base, 0xfffffe0000001000u);
  EXPECT_EQ(c.idt_limit, 0xfffu);
  EXPECT_EQ(c.cr[0], 0x80050033u);
  EXPECT_EQ(c.cr[3], 0xb40a000u);
  EXPECT_EQ((*r)[1].index, 1);
  EXPECT_EQ((*r)[1].rip, 0xffffffff81000000u);
}

TEST(HmpCpuState, RefusesIncompleteOrForeignText) {
  EXPECT_FALSE(parse_info_registers(""));
  EXPECT_FALSE(parse_info_registers("unknown command: 'info'\n"));
  // A CPU without its control registers, or without RIP.
  EXPECT_FALSE(parse_info_registers("CPU#0\nRIP=ffffffff81000000 RFL=00000002\n"));
  EXPECT_FALSE(parse_info_registers("CPU#0\nCR0=1 CR2=0 CR3=0 CR4=0\n"));
  EXPECT_FALSE(parse_info_registers("CPU#x\nRIP=0\nCR0=1 CR2=0 CR3=0 CR4=0\n"));
  EXPECT_FALSE(parse_info_registers("CS =0010 zz\nRIP=0\nCR0=1 CR2=0 CR3=0 CR4=0\n"));
}

TEST(HmpCpuState, NotesAreWhatQemuWrites) {
  auto cpus = parse_info_registers(kTwoCpus);
  ASSERT_TRUE(cpus);
  const auto blob = cpu_notes(*cpus);
  auto notes = formats::parse_notes(blob);
  ASSERT_TRUE(notes) << notes.error().what();
  ASSERT_EQ(notes->size(), 4u);
  EXPECT_EQ(formats::count_prstatus(*notes), 2);
  const auto& pr = (*notes)[0];
  ASSERT_EQ(pr.desc.size(), 336u);
  std::vector<std::byte> d(pr.desc.begin(), pr.desc.end());
  EXPECT_EQ(at<std::uint32_t>(d, 32), 1u); // pr_pid = CPU index + 1
  // user_regs_struct: r15 first, rax at 10, rip at 16, cs 17, eflags 18, rsp 19, gs_base 24.
  EXPECT_EQ(at<std::uint64_t>(d, 112), 0x10u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 10 * 8), 1u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 16 * 8), 0xffffffff81a0c2e1u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 17 * 8), 0x10u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 18 * 8), 0x246u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 19 * 8), 0xffffc90000013e38u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 20 * 8), 0x18u);
  EXPECT_EQ(at<std::uint64_t>(d, 112 + 22 * 8), 0xffff88800f800000u);
  EXPECT_EQ((*notes)[2].name, "QEMU");
  std::vector<std::byte> q((*notes)[2].desc.begin(), (*notes)[2].desc.end());
  ASSERT_EQ(q.size(), 432u);
  EXPECT_EQ(at<std::uint32_t>(q, 0), 1u);
  EXPECT_EQ(at<std::uint64_t>(q, 8 + 6 * 8), 0xffffc90000013e38u);  // rsp
  EXPECT_EQ(at<std::uint64_t>(q, 8 + 16 * 8), 0xffffffff81a0c2e1u); // rip
  // cs {selector, limit, flags, pad, base} right after rflags
  EXPECT_EQ(at<std::uint32_t>(q, 152), 0x10u);
  EXPECT_EQ(at<std::uint32_t>(q, 156), 0xffffffffu);
  EXPECT_EQ(at<std::uint32_t>(q, 160), 0x00a09b00u);
  // idt base, then cr0..cr4
  EXPECT_EQ(at<std::uint64_t>(q, 152 + 9 * 24 + 16), 0xfffffe0000000000u);
  EXPECT_EQ(at<std::uint64_t>(q, 392 + 3 * 8), 0xb40a000u);
}

TEST(HmpCpuState, XpFillsTheRange) {
  const std::string text = "0000000000001000: 0x0000000000000001 0x1122334455667788\n"
                           "0000000000001010: 0x0000000000000003 0x0000000000000004\n";
  std::vector<std::byte> out(32);
  auto r = parse_xp_quadwords(text, 0x1000, out);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(at<std::uint64_t>(out, 8), 0x1122334455667788u);
  EXPECT_EQ(at<std::uint64_t>(out, 24), 4u);
  // Short output, addresses outside the range, and text that is not a dump all fail.
  std::vector<std::byte> big(48);
  EXPECT_FALSE(parse_xp_quadwords(text, 0x1000, big));
  EXPECT_FALSE(parse_xp_quadwords(text, 0x1008, out));
  EXPECT_FALSE(parse_xp_quadwords("0000000000001000: zz\n", 0x1000, out));
  EXPECT_FALSE(parse_xp_quadwords("Cannot access memory\n", 0x1000, out));
}

} // namespace
} // namespace guestdump::host::detail
