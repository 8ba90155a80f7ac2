#pragma once
// ELF note blobs (the bytes of a PT_NOTE segment), as kept in kdump files and ELF cores.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/kdump_format.h"

namespace guestdump::formats {

inline constexpr std::uint32_t kNtPrstatus = 1;

struct NoteView {
  std::string_view name; // without the terminating NUL
  std::uint32_t type = 0;
  std::span<const std::byte> desc;
  std::size_t desc_offset = 0; // offset of desc within the blob
};

/// Splits a note blob; a note running past the end is a kBadData error. Zero padding at the
/// end of a blob (n_namesz == n_descsz == 0 with type 0) ends the walk.
Result<std::vector<NoteView>> parse_notes(std::span<const std::byte> blob);

/// Appends one note with 4-byte padding of name and descriptor.
void append_note(std::vector<std::byte>& blob, std::string_view name, std::uint32_t type,
                 std::span<const std::byte> desc);

/// `blob` without the notes called `name` whose type is one of `types`, and without the zero
/// padding at its end, so that notes appended to the result stay reachable. When no note is
/// dropped the kept bytes are the original ones; otherwise the kept notes are re-encoded.
Result<std::vector<std::byte>> notes_without(std::span<const std::byte> blob, std::string_view name,
                                             std::initializer_list<std::uint32_t> types);

/// Linux NT_PRSTATUS descriptor size on x86_64, and QEMU's QEMUCPUState (version 1) size.
inline constexpr std::size_t kPrstatusSize = 336;
inline constexpr std::size_t kQemuCpuStateSize = 432;

/// One x86_64 vCPU's registers, as a dump's CPU notes hold them.
struct X86_64CpuRegs {
  std::array<std::uint64_t, 16> gpr{}; // rax rbx rcx rdx rsi rdi rbp rsp r8..r15
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;
  std::uint64_t orig_rax = 0; // NT_PRSTATUS only; ~0 says "not in a system call"
  struct Segment {
    std::uint32_t selector = 0, limit = 0, flags = 0;
    std::uint64_t base = 0;
  };
  std::array<Segment, 10> seg{}; // cs ds es fs gs ss ldt tr gdt idt (QEMUCPUState's order)
  std::array<std::uint64_t, 5> cr{};
};

/// The NT_PRSTATUS descriptor (a "CORE" note) a Linux kdump kernel writes for `regs`: pr_pid
/// at 32, pr_reg (user_regs_struct order, FS/GS bases from the segments) at 112.
std::vector<std::byte> prstatus_desc(const X86_64CpuRegs& regs, std::uint32_t pid);

/// The QEMUCPUState version 1 descriptor (a "QEMU" note, as dump-guest-memory writes it)
/// without the optional kernel_gs_base: registers, segments, CR0-CR4.
std::vector<std::byte> qemu_cpu_state_desc(const X86_64CpuRegs& regs);

/// Number of "CORE" NT_PRSTATUS notes (the CPU count kdump readers expect in nr_cpus).
int count_prstatus(const std::vector<NoteView>& notes);

/// The VMCOREINFO note, if any.
const NoteView* find_vmcoreinfo(const std::vector<NoteView>& notes);

/// An architecture proven by a dump's notes, and the proof ("NT_PRSTATUS notes of 336 bytes").
struct NotesArch {
  KdumpArch arch = KdumpArch::kX86_64;
  std::string evidence;
};

/// The architecture the notes prove: the size of the NT_PRSTATUS registers (x86_64 336 bytes,
/// i386 144) and VMCOREINFO (x86_64 page-table symbols, symbol values above 4 GiB). nullopt when
/// they prove nothing; kBadData when they contradict each other.
Result<std::optional<NotesArch>> arch_from_notes(const std::vector<NoteView>& notes);

/// Who wrote the dump, as far as its notes and kdump header show ("guestdump", "QEMU
/// dump-guest-memory", ...); empty when nothing names the writer. `utsname` is a kdump
/// header's (all empty for ELF input).
std::string dump_producer(const std::vector<NoteView>& notes,
                          const std::array<std::string, 6>& utsname);

} // namespace guestdump::formats
