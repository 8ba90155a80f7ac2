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

TEST(ElfNotes, NotesWithoutDropsOnlyTheNamedTypes) {
  std::vector<std::byte> blob;
  append_note(blob, "CORE", kNtPrstatus, bytes_of(std::string(336, 'p')));
  append_note(blob, "GUESTDUMP", 2, bytes_of(std::string("map")));
  append_note(blob, "OTHER", 2, bytes_of(std::string("kept: other name")));
  append_note(blob, "GUESTDUMP", 3, bytes_of(std::string("dropped too")));
  append_note(blob, "GUESTDUMP", 1, bytes_of(std::string("kept: other type")));
  blob.resize(blob.size() + 32, std::byte{0}); // padding, as in a kdump file's note area
  auto out = notes_without(blob, "GUESTDUMP", {2, 3});
  ASSERT_TRUE(out);
  auto notes = parse_notes(*out);
  ASSERT_TRUE(notes);
  ASSERT_EQ(notes->size(), 3u);
  EXPECT_EQ((*notes)[0].name, "CORE");
  EXPECT_EQ((*notes)[1].name, "OTHER");
  EXPECT_EQ((*notes)[2].type, 1u);
  // Nothing to drop: the same bytes, without the padding, so appended notes are reachable.
  auto same = notes_without(*out, "GUESTDUMP", {2, 3});
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *out);
  auto trimmed = notes_without(blob, "NOBODY", {0});
  ASSERT_TRUE(trimmed);
  EXPECT_EQ(trimmed->size(), blob.size() - 32);
  append_note(*trimmed, "VMCOREINFO", 0, bytes_of(std::string("A=1\n")));
  auto again = parse_notes(*trimmed);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->size(), 6u);
  // A broken blob is an error, not a silently shorter one.
  blob.resize(100);
  EXPECT_FALSE(notes_without(blob, "GUESTDUMP", {2}));
}

} // namespace
} // namespace guestdump::formats
