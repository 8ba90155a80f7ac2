#pragma once
// ELF note blobs (the bytes of a PT_NOTE segment), as kept in kdump files and ELF cores.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"

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

} // namespace guestdump::formats
