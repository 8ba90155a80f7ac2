#include "guestdump/formats/elf_notes.h"

#include <string>

#include <gtest/gtest.h>

namespace guestdump::formats {
namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s));
}

TEST(ElfNotes, AppendAndParseWithPadding) {
  std::vector<std::byte> blob;
  std::string prstatus(336, 'p');
  std::string vmci = "OSRELEASE=6.1\n"; // 14 bytes: padded to 16
  append_note(blob, "CORE", kNtPrstatus, bytes_of(prstatus));
  append_note(blob, "CORE", kNtPrstatus, bytes_of(prstatus));
  append_note(blob, "QEMU", 0, bytes_of(std::string(432, 'q')));
  append_note(blob, "VMCOREINFO", 0, bytes_of(vmci));
  // CORE note = 12 + 8 + 336 = 356 bytes; QEMU = 12 + 8 + 432; VMCOREINFO = 12 + 12 + 16.
  ASSERT_EQ(blob.size(), 2 * 356 + 452 + 40u);
  auto notes = parse_notes(blob);
  ASSERT_TRUE(notes);
  ASSERT_EQ(notes->size(), 4u);
  EXPECT_EQ(count_prstatus(*notes), 2);
  const NoteView* vi = find_vmcoreinfo(*notes);
  ASSERT_NE(vi, nullptr);
  EXPECT_EQ(vi->desc.size(), 14u);
  EXPECT_EQ(vi->desc_offset, 2 * 356 + 452 + 24u); // the offset_vmcoreinfo arithmetic
}

TEST(ElfNotes, TruncatedNoteIsBadData) {
  std::vector<std::byte> blob;
  append_note(blob, "CORE", kNtPrstatus, bytes_of(std::string(336, 'p')));
  blob.resize(blob.size() - 100);
  auto notes = parse_notes(blob);
  ASSERT_FALSE(notes);
  EXPECT_EQ(notes.error().code, ErrorCode::kBadData);
}

TEST(ElfNotes, TrailingZeroPaddingEndsTheWalk) {
  std::vector<std::byte> blob;
  append_note(blob, "VMCOREINFO", 0, bytes_of(std::string("A=1\n")));
  blob.resize(blob.size() + 64, std::byte{0});
  auto notes = parse_notes(blob);
  ASSERT_TRUE(notes);
  EXPECT_EQ(notes->size(), 1u);
}

} // namespace
} // namespace guestdump::formats
