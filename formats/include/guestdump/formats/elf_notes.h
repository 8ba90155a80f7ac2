#pragma once
// ELF note blobs (the bytes of a PT_NOTE segment), as kept in kdump files and ELF cores.

#include <array>
#include <cstddef>
#include <cstdint>
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
