#pragma once
// Xen `xl dump-core` input (libxc's xc_core ELF): ELF64 with section headers only — `.note.Xen`,
// `.xen_prstatus` (one vcpu_guest_context per vCPU), `.xen_pages` and an index, `.xen_pfn`
// (HVM/PVH: guest-physical frame per page) or `.xen_p2m` (PV: {pfn, gmfn} per page).
// See docs/architecture.md, "Xen input".

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"

namespace guestdump::formats {

/// Size of one x86_64 `vcpu_guest_context` record in `.xen_prstatus`.
inline constexpr std::size_t kXenVcpuContextSize = 5168;
/// `vcpu_guest_context.flags` bit: the vCPU is up.
inline constexpr std::uint64_t kXenVcpuOnline = 1u << 5;

/// The registers of one x86_64 vCPU as Xen records them.
struct XenVcpuState {
  std::array<std::uint64_t, 15> gprs{}; // r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;
  std::uint64_t rsp = 0;
  std::uint16_t cs = 0, ss = 0, es = 0, ds = 0, fs = 0, gs = 0;
  std::uint64_t fs_base = 0;
  std::uint64_t gs_base_kernel = 0;
  std::uint64_t gs_base_user = 0;
  std::array<std::uint64_t, 5> cr{}; // ctrlreg[0..4]; cr[3] is the page-table root
  std::uint64_t flags = 0;           // VGCF_* (kXenVcpuOnline)
};

/// Decodes one `.xen_prstatus` record; `rec` must hold kXenVcpuContextSize bytes.
XenVcpuState parse_xen_vcpu_context(std::span<const std::byte> rec);

/// `vcpu` as the CPU notes of a dump hold it (prstatus_desc(), qemu_cpu_state_desc()). Xen
/// keeps no descriptor flags, limits, GDT, IDT, LDT or TR: those stay zero, except CS, which
/// gets QEMU's long-mode code-segment flags when paging and PAE are on (so tools that take CR3
/// from QEMU notes, crash and our VMCOREINFO locator, accept it). orig_rax is ~0.
X86_64CpuRegs xen_cpu_regs(const XenVcpuState& vcpu);

/// Whether the first bytes of a file look like an xc_core file: ELF64 core with section
/// headers and no program headers (what open_dump() routes to open_xen_core()).
bool looks_like_xen_core(std::span<const std::byte> head);

/// Opens an xc_core file. Every header, note and index entry is checked against the file;
/// errors are kBadData (or kUnsupported for 32-bit guests, other page sizes, other format
/// versions) and name the section or note at fault. Metadata: `format` is "xc_core (HVM)" or
/// "xc_core (PV)"; RAM = the PFNs the index lists; notes = one CORE NT_PRSTATUS per online
/// vCPU plus, for HVM/PVH (whose CR3 is guest-physical), one QEMU note per vCPU; no VMCOREINFO.
/// PV pages are indexed by the guest's pseudo-physical PFN; their page tables hold machine
/// frames, which is logged as a warning (no page-table walks: filtering keeps every page).
Result<std::unique_ptr<DumpSource>> open_xen_core(const std::string& path);

} // namespace guestdump::formats
