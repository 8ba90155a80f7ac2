#include "guestdump/formats/elf_notes.h"

#include <cstring>
#include <string>

namespace guestdump::formats {
namespace {
std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
constexpr std::uint64_t align4(std::uint64_t v) {
  return (v + 3) & ~std::uint64_t{3};
}
} // namespace

Result<std::vector<NoteView>> parse_notes(std::span<const std::byte> blob) {
  std::vector<NoteView> notes;
  std::uint64_t pos = 0;
  while (pos + 12 <= blob.size()) {
    std::uint32_t namesz = load_u32(blob.data() + pos);
    std::uint32_t descsz = load_u32(blob.data() + pos + 4);
    std::uint32_t type = load_u32(blob.data() + pos + 8);
    if (namesz == 0 && descsz == 0 && type == 0) break; // zero padding
    std::uint64_t name_off = pos + 12;
    std::uint64_t desc_off = name_off + align4(namesz);
    std::uint64_t end = desc_off + align4(descsz);
    if (desc_off + descsz > blob.size()) {
      return make_error(ErrorCode::kBadData, "note at offset " + std::to_string(pos) +
                                                 " runs past the end of the notes (" +
                                                 std::to_string(blob.size()) + " bytes)");
    }
    NoteView n;
    const char* name = reinterpret_cast<const char*>(blob.data() + name_off);
    std::size_t len = namesz;
    while (len > 0 && name[len - 1] == '\0') --len;
    n.name = std::string_view(name, len);
    n.type = type;
    n.desc = blob.subspan(desc_off, descsz);
    n.desc_offset = desc_off;
    notes.push_back(n);
    pos = end;
  }
  return notes;
}

void append_note(std::vector<std::byte>& blob, std::string_view name, std::uint32_t type,
                 std::span<const std::byte> desc) {
  std::uint32_t hdr[3] = {static_cast<std::uint32_t>(name.size() + 1),
                          static_cast<std::uint32_t>(desc.size()), type};
  auto* h = reinterpret_cast<const std::byte*>(hdr);
  blob.insert(blob.end(), h, h + 12);
  auto* nm = reinterpret_cast<const std::byte*>(name.data());
  blob.insert(blob.end(), nm, nm + name.size());
  blob.resize(align4(blob.size() + 1), std::byte{0});
  blob.insert(blob.end(), desc.begin(), desc.end());
  blob.resize(align4(blob.size()), std::byte{0});
}

int count_prstatus(const std::vector<NoteView>& notes) {
  int n = 0;
  for (const auto& note : notes) {
    if (note.name == "CORE" && note.type == kNtPrstatus) ++n;
  }
  return n;
}

const NoteView* find_vmcoreinfo(const std::vector<NoteView>& notes) {
  for (const auto& note : notes) {
    if (note.name == "VMCOREINFO") return &note;
  }
  return nullptr;
}

} // namespace guestdump::formats
