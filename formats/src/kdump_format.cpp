#include "guestdump/formats/kdump_format.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace guestdump::formats {
namespace {

// Field offsets of disk_dump_header and kdump_sub_header for the two ABIs we write.
// x86_64 (LP64): 6 pad bytes after utsname so that struct timeval is 8-aligned.
struct HeaderOffsets {
  std::size_t timestamp, time_width, status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr,
      total_ram_blocks, device_blocks, written_blocks, current_cpu, nr_cpus, size;
};
struct SubOffsets {
  std::size_t phys_base, long_width, dump_level, split, start_pfn, end_pfn, offset_vmcoreinfo,
      size_vmcoreinfo, offset_note, size_note, offset_eraseinfo, size_eraseinfo, start_pfn_64,
      end_pfn_64, max_mapnr_64, size;
};
constexpr HeaderOffsets kHdr64{408, 8, 424, 428, 432, 436, 440, 444, 448, 452, 456, 460, 464};
constexpr HeaderOffsets kHdr32{404, 4, 412, 416, 420, 424, 428, 432, 436, 440, 444, 448, 452};
constexpr SubOffsets kSub64{0, 8, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104};
constexpr SubOffsets kSub32{0, 4, 4, 8, 12, 16, 20, 28, 32, 40, 44, 52, 56, 64, 72, 80};

const HeaderOffsets& hdr_off(KdumpArch a) {
  return a == KdumpArch::kX86_64 ? kHdr64 : kHdr32;
}
const SubOffsets& sub_off(KdumpArch a) {
  return a == KdumpArch::kX86_64 ? kSub64 : kSub32;
}

template <typename T> void put(std::byte* base, std::size_t off, T v) {
  std::memcpy(base + off, &v, sizeof v);
}
// Writes an integer of `width` bytes (4 or 8): C `long`/`unsigned long` fields.
void put_w(std::byte* base, std::size_t off, std::size_t width, std::uint64_t v) {
  if (width == 8) {
    put<std::uint64_t>(base, off, v);
  } else {
    put<std::uint32_t>(base, off, static_cast<std::uint32_t>(v));
  }
}
template <typename T> T get(const std::byte* base, std::size_t off) {
  T v;
  std::memcpy(&v, base + off, sizeof v);
  return v;
}
std::uint64_t get_w(const std::byte* base, std::size_t off, std::size_t width) {
  return width == 8 ? get<std::uint64_t>(base, off) : get<std::uint32_t>(base, off);
}
std::int64_t get_sw(const std::byte* base, std::size_t off, std::size_t width) {
  return width == 8 ? get<std::int64_t>(base, off) : get<std::int32_t>(base, off);
}

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) {
  return (a + b - 1) / b;
}

} // namespace

std::size_t header_size(KdumpArch arch) {
  return hdr_off(arch).size;
}
std::size_t sub_header_size(KdumpArch arch) {
  return sub_off(arch).size;
}

KdumpLayout compute_layout(KdumpArch arch, std::uint32_t block_size, std::uint64_t max_mapnr,
                           std::uint64_t note_size, std::uint64_t num_dumpable) {
  KdumpLayout l;
  l.block_size = block_size;
  l.max_mapnr = max_mapnr;
  l.sub_hdr_blocks = div_up(sub_header_size(arch) + note_size, block_size);
  l.bitmap_blocks = div_up(div_up(max_mapnr, 8), block_size);
  l.offset_note = block_size + sub_header_size(arch);
  l.offset_bitmap1 = (1 + l.sub_hdr_blocks) * block_size;
  l.offset_bitmap2 = l.offset_bitmap1 + l.bitmap_blocks * block_size;
  l.offset_descs = l.offset_bitmap2 + l.bitmap_blocks * block_size;
  l.num_dumpable = num_dumpable;
  l.offset_data = l.offset_descs + kPageDescSize * num_dumpable;
  return l;
}

void fill_layout_fields(KdumpHeader& hdr, const KdumpLayout& layout, std::uint64_t note_size,
                        std::int64_t vmcoreinfo_offset_in_notes, std::uint64_t vmcoreinfo_size) {
  hdr.block_size = layout.block_size;
  hdr.sub_hdr_size = static_cast<std::uint32_t>(layout.sub_hdr_blocks);
  hdr.bitmap_blocks = static_cast<std::uint32_t>(2 * layout.bitmap_blocks);
  hdr.max_mapnr = static_cast<std::uint32_t>(std::min<std::uint64_t>(layout.max_mapnr, UINT32_MAX));
  hdr.max_mapnr_64 = layout.max_mapnr;
  hdr.start_pfn = 0;
  hdr.end_pfn = hdr.max_mapnr;
  hdr.start_pfn_64 = 0;
  hdr.end_pfn_64 = layout.max_mapnr;
  hdr.offset_note = layout.offset_note;
  hdr.size_note = note_size;
  if (vmcoreinfo_offset_in_notes >= 0) {
    hdr.offset_vmcoreinfo =
        layout.offset_note + static_cast<std::uint64_t>(vmcoreinfo_offset_in_notes);
    hdr.size_vmcoreinfo = vmcoreinfo_size;
  } else {
    hdr.offset_vmcoreinfo = 0;
    hdr.size_vmcoreinfo = 0;
  }
}

std::vector<std::byte> encode_header_blocks(const KdumpHeader& hdr,
                                            std::span<const std::byte> notes) {
  const auto& ho = hdr_off(hdr.arch);
  const auto& so = sub_off(hdr.arch);
  std::vector<std::byte> out((1 + std::uint64_t{hdr.sub_hdr_size}) * hdr.block_size, std::byte{0});
  std::byte* h = out.data();
  std::memcpy(h, kKdumpSignature, sizeof kKdumpSignature);
  put<std::int32_t>(h, 8, hdr.header_version);
  for (std::size_t i = 0; i < hdr.utsname.size(); ++i) {
    const auto& s = hdr.utsname[i];
    std::memcpy(h + 12 + i * kUtsFieldLen, s.data(), std::min(s.size(), kUtsFieldLen - 1));
  }
  put_w(h, ho.timestamp, ho.time_width, static_cast<std::uint64_t>(hdr.timestamp_sec));
  put_w(h, ho.timestamp + ho.time_width, ho.time_width,
        static_cast<std::uint64_t>(hdr.timestamp_usec));
  put<std::uint32_t>(h, ho.status, hdr.status);
  put<std::uint32_t>(h, ho.block_size, hdr.block_size);
  put<std::uint32_t>(h, ho.sub_hdr_size, hdr.sub_hdr_size);
  put<std::uint32_t>(h, ho.bitmap_blocks, hdr.bitmap_blocks);
  put<std::uint32_t>(h, ho.max_mapnr, hdr.max_mapnr);
  put<std::int32_t>(h, ho.nr_cpus, hdr.nr_cpus);

  std::byte* s = h + hdr.block_size;
  put_w(s, so.phys_base, so.long_width, hdr.phys_base);
  put<std::int32_t>(s, so.dump_level, hdr.dump_level);
  put<std::int32_t>(s, so.split, hdr.split);
  put_w(s, so.start_pfn, so.long_width, hdr.start_pfn);
  put_w(s, so.end_pfn, so.long_width, hdr.end_pfn);
  put<std::uint64_t>(s, so.offset_vmcoreinfo, hdr.offset_vmcoreinfo);
  put_w(s, so.size_vmcoreinfo, so.long_width, hdr.size_vmcoreinfo);
  put<std::uint64_t>(s, so.offset_note, hdr.offset_note);
  put_w(s, so.size_note, so.long_width, hdr.size_note);
  put<std::uint64_t>(s, so.offset_eraseinfo, hdr.offset_eraseinfo);
  put_w(s, so.size_eraseinfo, so.long_width, hdr.size_eraseinfo);
  put<std::uint64_t>(s, so.start_pfn_64, hdr.start_pfn_64);
  put<std::uint64_t>(s, so.end_pfn_64, hdr.end_pfn_64);
  put<std::uint64_t>(s, so.max_mapnr_64, hdr.max_mapnr_64);

  std::size_t note_pos = hdr.block_size + so.size;
  std::size_t n = std::min(notes.size(), out.size() - std::min(out.size(), note_pos));
  if (n != 0)
    std::memcpy(out.data() + note_pos, notes.data(), n); // empty notes: data() may be null
  return out;
}

namespace {

bool plausible_block_size(std::uint32_t bs) {
  return bs >= 4096 && bs <= 65536 && std::has_single_bit(bs);
}

std::string trimmed_field(const std::byte* p) {
  const char* c = reinterpret_cast<const char*>(p);
  std::size_t len = 0;
  while (len < kUtsFieldLen - 1 && c[len] != '\0') ++len;
  return std::string(c, len);
}

} // namespace

std::optional<KdumpArch> arch_from_machine(std::string_view machine) {
  if (machine == "x86_64") return KdumpArch::kX86_64;
  if (machine == "i386" || machine == "i486" || machine == "i586" || machine == "i686")
    return KdumpArch::kI386;
  return std::nullopt;
}

std::string_view machine_name(KdumpArch arch) {
  return arch == KdumpArch::kX86_64 ? "x86_64" : "i686";
}

Result<KdumpHeader> decode_header(std::span<const std::byte> head) {
  if (head.size() < 464 || std::memcmp(head.data(), kKdumpSignature, 8) != 0) {
    return make_error(ErrorCode::kBadData, "not a kdump-compressed file (no KDUMP signature)");
  }
  // utsname.machine is free text (QEMU 11.1 writes "Unknown", 7.2 "x86_64"): a hint for the first
  // try only. Without a usable name the layout whose block_size is sane goes first (libkdumpfile
  // does the same).
  auto first = arch_from_machine(trimmed_field(head.data() + 12 + 4 * kUtsFieldLen));
  if (!first) {
    first = plausible_block_size(get<std::uint32_t>(head.data(), kHdr64.block_size))
                ? KdumpArch::kX86_64
                : KdumpArch::kI386;
  }
  auto r = decode_header(head, *first);
  if (r) return r;
  const KdumpArch other = *first == KdumpArch::kX86_64 ? KdumpArch::kI386 : KdumpArch::kX86_64;
  if (auto r2 = decode_header(head, other)) return r2;
  return r;
}

Result<KdumpHeader> decode_header(std::span<const std::byte> head, KdumpArch layout) {
  if (head.size() < 464 || std::memcmp(head.data(), kKdumpSignature, 8) != 0) {
    return make_error(ErrorCode::kBadData, "not a kdump-compressed file (no KDUMP signature)");
  }
  KdumpHeader hdr;
  const std::byte* h = head.data();
  hdr.header_version = get<std::int32_t>(h, 8);
  for (std::size_t i = 0; i < hdr.utsname.size(); ++i)
    hdr.utsname[i] = trimmed_field(h + 12 + i * kUtsFieldLen);
  hdr.arch = layout;
  const auto& ho = hdr_off(hdr.arch);
  const auto& so = sub_off(hdr.arch);
  hdr.timestamp_sec = get_sw(h, ho.timestamp, ho.time_width);
  hdr.timestamp_usec = get_sw(h, ho.timestamp + ho.time_width, ho.time_width);
  hdr.status = get<std::uint32_t>(h, ho.status);
  hdr.block_size = get<std::uint32_t>(h, ho.block_size);
  hdr.sub_hdr_size = get<std::uint32_t>(h, ho.sub_hdr_size);
  hdr.bitmap_blocks = get<std::uint32_t>(h, ho.bitmap_blocks);
  hdr.max_mapnr = get<std::uint32_t>(h, ho.max_mapnr);
  hdr.nr_cpus = get<std::int32_t>(h, ho.nr_cpus);
  if (!plausible_block_size(hdr.block_size)) {
    return make_error(ErrorCode::kBadData,
                      "kdump header: implausible block size " + std::to_string(hdr.block_size));
  }
  if (hdr.header_version < 1) {
    return make_error(ErrorCode::kUnsupported, "kdump header version " +
                                                   std::to_string(hdr.header_version) +
                                                   " (old diskdump) is not supported");
  }
  if (head.size() < hdr.block_size + so.size) {
    return make_error(ErrorCode::kBadData, "kdump file too short for its sub header");
  }
  const std::byte* s = h + hdr.block_size;
  hdr.phys_base = get_w(s, so.phys_base, so.long_width);
  hdr.dump_level = get<std::int32_t>(s, so.dump_level);
  if (hdr.header_version >= 2) {
    hdr.split = get<std::int32_t>(s, so.split);
    hdr.start_pfn = get_w(s, so.start_pfn, so.long_width);
    hdr.end_pfn = get_w(s, so.end_pfn, so.long_width);
  }
  if (hdr.header_version >= 3) {
    hdr.offset_vmcoreinfo = get<std::uint64_t>(s, so.offset_vmcoreinfo);
    hdr.size_vmcoreinfo = get_w(s, so.size_vmcoreinfo, so.long_width);
  }
  if (hdr.header_version >= 4) {
    hdr.offset_note = get<std::uint64_t>(s, so.offset_note);
    hdr.size_note = get_w(s, so.size_note, so.long_width);
  }
  if (hdr.header_version >= 5) {
    hdr.offset_eraseinfo = get<std::uint64_t>(s, so.offset_eraseinfo);
    hdr.size_eraseinfo = get_w(s, so.size_eraseinfo, so.long_width);
  }
  if (hdr.header_version >= 6) {
    hdr.start_pfn_64 = get<std::uint64_t>(s, so.start_pfn_64);
    hdr.end_pfn_64 = get<std::uint64_t>(s, so.end_pfn_64);
    hdr.max_mapnr_64 = get<std::uint64_t>(s, so.max_mapnr_64);
  } else {
    hdr.max_mapnr_64 = hdr.max_mapnr;
  }
  // Two bitmaps of ceil(ceil(max_mapnr/8)/block_size) blocks each.
  std::uint64_t one = div_up(div_up(hdr.max_mapnr_64, 8), hdr.block_size);
  if (hdr.bitmap_blocks < 2 * one) {
    return make_error(ErrorCode::kBadData, "kdump header: " + std::to_string(hdr.bitmap_blocks) +
                                               " bitmap blocks cannot cover max_mapnr " +
                                               std::to_string(hdr.max_mapnr_64));
  }
  return hdr;
}

void encode_page_desc(const PageDesc& d, std::byte* out) {
  put<std::int64_t>(out, 0, d.offset);
  put<std::uint32_t>(out, 8, d.size);
  put<std::uint32_t>(out, 12, d.flags);
  put<std::uint64_t>(out, 16, d.page_flags);
}

PageDesc decode_page_desc(const std::byte* in) {
  return PageDesc{get<std::int64_t>(in, 0), get<std::uint32_t>(in, 8), get<std::uint32_t>(in, 12),
                  get<std::uint64_t>(in, 16)};
}

namespace {
void put_be64(std::byte* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::byte>(v & 0xff);
    v >>= 8;
  }
}
} // namespace

std::vector<std::byte> encode_flat_header() {
  std::vector<std::byte> h(kFlatHeaderSize, std::byte{0});
  std::memcpy(h.data(), "makedumpfile", 12);
  put_be64(h.data() + 16, 1); // TYPE_FLAT_HEADER
  put_be64(h.data() + 24, 1); // VERSION_FLAT_HEADER
  return h;
}

bool is_flat_header(std::span<const std::byte> head) {
  static const auto ref = encode_flat_header();
  return head.size() >= 32 && std::memcmp(head.data(), ref.data(), 32) == 0;
}

void encode_flat_record_header(std::int64_t offset, std::int64_t size, std::byte* out) {
  put_be64(out, static_cast<std::uint64_t>(offset));
  put_be64(out + 8, static_cast<std::uint64_t>(size));
}

} // namespace guestdump::formats
