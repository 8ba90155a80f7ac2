#pragma once
// The kdump-compressed ("diskdump", signature "KDUMP   ") on-disk format, header_version 6,
// byte for byte as makedumpfile 1.7 writes it. Layout facts: docs in shared/reference/formats.md
// §1; every offset here is explicit (no packed structs).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::formats {

/// The dumped machine's C ABI decides the header layout.
enum class KdumpArch { kX86_64, kI386 };

/// The architecture a utsname.machine string names ("x86_64", "i386" to "i686"), or nullopt for
/// anything else (QEMU 11.1 writes "Unknown", some writers leave it empty).
std::optional<KdumpArch> arch_from_machine(std::string_view machine);
/// The utsname.machine guestdump writes for `arch` ("x86_64", "i686").
std::string_view machine_name(KdumpArch arch);

inline constexpr char kKdumpSignature[8] = {'K', 'D', 'U', 'M', 'P', ' ', ' ', ' '};
inline constexpr std::size_t kUtsFieldLen = 65;
inline constexpr std::size_t kPageDescSize = 24;

std::size_t header_size(KdumpArch arch);     // 464 / 452
std::size_t sub_header_size(KdumpArch arch); // 104 / 80

/// Every field of disk_dump_header + kdump_sub_header that we read or write.
struct KdumpHeader {
  KdumpArch arch = KdumpArch::kX86_64;
  // disk_dump_header
  std::int32_t header_version = 6;
  std::array<std::string, 6> utsname; // sysname nodename release version machine domainname
  std::int64_t timestamp_sec = 0;
  std::int64_t timestamp_usec = 0;
  std::uint32_t status = 0;
  std::uint32_t block_size = 4096;
  std::uint32_t sub_hdr_size = 0;  // blocks
  std::uint32_t bitmap_blocks = 0; // both bitmaps
  std::uint32_t max_mapnr = 0;     // truncated copy
  std::int32_t nr_cpus = 0;
  // kdump_sub_header
  std::uint64_t phys_base = 0;
  std::int32_t dump_level = 0;
  std::int32_t split = 0;
  std::uint64_t start_pfn = 0;
  std::uint64_t end_pfn = 0;
  std::uint64_t offset_vmcoreinfo = 0;
  std::uint64_t size_vmcoreinfo = 0;
  std::uint64_t offset_note = 0;
  std::uint64_t size_note = 0;
  std::uint64_t offset_eraseinfo = 0;
  std::uint64_t size_eraseinfo = 0;
  std::uint64_t start_pfn_64 = 0;
  std::uint64_t end_pfn_64 = 0;
  std::uint64_t max_mapnr_64 = 0;
};

/// Where everything goes in a file (all offsets absolute).
struct KdumpLayout {
  std::uint32_t block_size = 0;
  std::uint64_t max_mapnr = 0;
  std::uint64_t sub_hdr_blocks = 0;
  std::uint64_t bitmap_blocks = 0; // one bitmap
  std::uint64_t offset_note = 0;
  std::uint64_t offset_bitmap1 = 0;
  std::uint64_t offset_bitmap2 = 0;
  std::uint64_t offset_descs = 0;
  std::uint64_t num_dumpable = 0;
  std::uint64_t offset_data = 0;
};

/// Computes the region map for a dump with `note_size` bytes of notes and `num_dumpable`
/// page descriptors.
KdumpLayout compute_layout(KdumpArch arch, std::uint32_t block_size, std::uint64_t max_mapnr,
                           std::uint64_t note_size, std::uint64_t num_dumpable);

/// Fills the header fields that follow from a layout, the notes and the CPU count.
/// `vmcoreinfo_offset_in_notes` is the VMCOREINFO descriptor's offset inside the notes (or -1).
void fill_layout_fields(KdumpHeader& hdr, const KdumpLayout& layout, std::uint64_t note_size,
                        std::int64_t vmcoreinfo_offset_in_notes, std::uint64_t vmcoreinfo_size);

/// Encodes the first (1 + sub_hdr_blocks) blocks: main header, sub header, notes, zero padding.
std::vector<std::byte> encode_header_blocks(const KdumpHeader& hdr,
                                            std::span<const std::byte> notes);

/// Decodes and sanity-checks the headers from the file's first bytes (at least one block plus
/// the sub header) with the layout of `layout`; utsname.machine is only carried, never checked.
Result<KdumpHeader> decode_header(std::span<const std::byte> head, KdumpArch layout);
/// Same, with a guessed layout: the one utsname.machine names when it decodes, else the one
/// whose block size is plausible. An unknown or lying machine name is not an error here: the
/// reader confirms the layout from the notes (kdump_reader.cpp).
Result<KdumpHeader> decode_header(std::span<const std::byte> head);

struct PageDesc {
  std::int64_t offset = 0; // absolute file offset of the data; 0 = never written
  std::uint32_t size = 0;
  std::uint32_t flags = 0;
  std::uint64_t page_flags = 0;
};
void encode_page_desc(const PageDesc& d, std::byte* out); // 24 bytes
PageDesc decode_page_desc(const std::byte* in);

// makedumpfile's flattened format: a 4096-byte header, then big-endian {offset, size} records
// each followed by `size` payload bytes, ended by a {-1, -1} record.
inline constexpr std::size_t kFlatHeaderSize = 4096;
inline constexpr std::size_t kFlatRecordHeaderSize = 16;
std::vector<std::byte> encode_flat_header();
bool is_flat_header(std::span<const std::byte> head);
void encode_flat_record_header(std::int64_t offset, std::int64_t size, std::byte* out);

} // namespace guestdump::formats
