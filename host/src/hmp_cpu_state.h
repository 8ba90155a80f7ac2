#pragma once
// What the selective capture of a libvirt domain learns through HMP instead of a QEMU dump (a
// dump emits DUMP_COMPLETED, which crashes libvirtd 9.0 when libvirt did not start it): the vCPU
// registers from `info registers -a`, turned into the ELF notes QEMU's own dump writes (one
// "CORE" NT_PRSTATUS and one "QEMU" QEMUCPUState per vCPU, as in QEMU 7.2
// target/i386/arch_dump.c), and guest-physical bytes from `xp /Ngx`. Private to host/.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::host::detail {

/// One segment register as QEMU prints it: selector, base, limit, descriptor flags.
struct HmpSegment {
  std::uint32_t selector = 0;
  std::uint64_t base = 0;
  std::uint32_t limit = 0;
  std::uint32_t flags = 0;
};

/// The registers of one x86 vCPU from `info registers`.
struct HmpCpuState {
  int index = 0; // the N of "CPU#N"
  // rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (32-bit CPUs fill the first eight)
  std::array<std::uint64_t, 16> gpr{};
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;
  // es cs ss ds fs gs, then ldt and tr
  std::array<HmpSegment, 8> seg{};
  std::uint64_t gdt_base = 0, idt_base = 0;
  std::uint32_t gdt_limit = 0, idt_limit = 0;
  std::array<std::uint64_t, 5> cr{};
};

/// Parses `info registers -a` output (one "CPU#N" block per vCPU; a single block without the
/// header is CPU 0). Every CPU must show RIP/EIP and CR0-CR4; anything else is kBadData.
Result<std::vector<HmpCpuState>> parse_info_registers(std::string_view text);

/// The ELF note blob QEMU's dump-guest-memory writes for these CPUs: per CPU a "CORE"
/// NT_PRSTATUS (pr_pid = index + 1), then per CPU a "QEMU" note (QEMUCPUState version 1 without
/// the optional kernel_gs_base, which HMP does not show).
std::vector<std::byte> cpu_notes(const std::vector<HmpCpuState>& cpus);

/// Parses `xp /Ngx ADDR` output into `out`, which holds the bytes from `addr` on; every byte of
/// `out` must be covered by the lines, else kBadData.
Result<void> parse_xp_quadwords(std::string_view text, std::uint64_t addr,
                                std::span<std::byte> out);

} // namespace guestdump::host::detail
