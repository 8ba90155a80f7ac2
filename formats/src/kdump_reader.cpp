// kdump-compressed reader, plain and flattened (makedumpfile -F, QEMU's kdump-* formats).
// Everything read from the file is untrusted: offsets, sizes and counts are bounds-checked and
// every error names the field or PFN at fault.

#include <algorithm>
#include <bit>
#include <cstring>

#include "guestdump/common/byte_source.h"
#include "guestdump/common/io.h"
#include "guestdump/formats/codec.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/formats/kdump_format.h"

namespace guestdump::formats {
namespace {

std::uint64_t load_be64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// The logical (reassembled) file: either the source itself, or the extents of a flattened
// stream sorted by target offset. A mapped source is read in place (pointers into the mapping);
// any other (a remote object) is copied through read().
class LogicalFile {
public:
  struct Extent {
    std::uint64_t target = 0; // offset in the reassembled file
    std::uint64_t size = 0;
    std::uint64_t source = 0; // offset in the flattened file
  };

  static Result<LogicalFile> open(std::unique_ptr<ByteSource> source) {
    LogicalFile lf(std::move(source));
    const std::uint64_t stored = lf.source_->size();
    std::byte head[kFlatHeaderSize] = {};
    if (stored >= kFlatHeaderSize) GUESTDUMP_CHECK(lf.source_->read(0, head));
    if (stored < kFlatHeaderSize || !is_flat_header(std::span<const std::byte>(head))) {
      lf.size_ = stored;
      return lf;
    }
    lf.flat_ = true;
    std::uint64_t pos = kFlatHeaderSize;
    bool ended = false;
    // The record headers are spread over the whole file (QEMU writes one per block): reading
    // them through a mapping faults in every page, so the mapping's page-table entries go
    // every 32 MiB scanned and at the end, or a flattened input of any size would sit in the
    // resident set (libvirt's kdump core in the fallback path).
    constexpr std::uint64_t kRelease = 32ull << 20;
    std::uint64_t released_at = pos;
    struct Release {
      const ByteSource& s;
      ~Release() { s.release_mapped_pages(); }
    } release{*lf.source_};
    while (pos + kFlatRecordHeaderSize <= stored) {
      if (pos - released_at >= kRelease) {
        lf.source_->release_mapped_pages();
        released_at = pos;
      }
      std::byte rec[kFlatRecordHeaderSize];
      GUESTDUMP_CHECK(lf.read_stored(pos, rec));
      auto off = static_cast<std::int64_t>(load_be64(rec));
      auto size = static_cast<std::int64_t>(load_be64(rec + 8));
      pos += kFlatRecordHeaderSize;
      if (off == -1 && size == -1) {
        ended = true;
        break;
      }
      if (off < 0 || size < 0 || static_cast<std::uint64_t>(size) > stored - pos) {
        return make_error(ErrorCode::kBadData, "flattened record at " + std::to_string(pos - 16) +
                                                   " is corrupt or truncated");
      }
      if (size > 0) {
        lf.extents_.push_back(
            {static_cast<std::uint64_t>(off), static_cast<std::uint64_t>(size), pos});
      }
      pos += static_cast<std::uint64_t>(size);
    }
    if (!ended) {
      return make_error(ErrorCode::kBadData, "flattened file has no end marker: truncated dump");
    }
    std::stable_sort(lf.extents_.begin(), lf.extents_.end(),
                     [](const Extent& a, const Extent& b) { return a.target < b.target; });
    for (std::size_t i = 1; i < lf.extents_.size(); ++i) {
      const auto& a = lf.extents_[i - 1];
      if (a.target + a.size > lf.extents_[i].target) {
        return make_error(ErrorCode::kBadData, "flattened records overlap at offset " +
                                                   std::to_string(lf.extents_[i].target));
      }
    }
    lf.size_ = lf.extents_.empty() ? 0 : lf.extents_.back().target + lf.extents_.back().size;
    return lf;
  }

  std::uint64_t size() const { return size_; }
  bool mapped() const { return !mapping_.empty(); }
  void release_mapped_pages() const { source_->release_mapped_pages(); }
  /// Bytes the file really holds: a flattened file's logical size is only a claim of its
  /// records' target offsets (its gaps read as zeros).
  std::uint64_t stored() const { return source_->size(); }
  bool flat() const { return flat_; }
  const std::string& name() const { return source_->name(); }

  /// Pointer to [off, off+len) when contiguous in the mapping, else copies into `scratch`
  /// (zero-filling gaps of a flattened file). The caller checked off+len <= size(); only a
  /// source that is not mapped can fail (a remote read).
  Result<const std::byte*> view(std::uint64_t off, std::size_t len, std::byte* scratch) const {
    if (!flat_) {
      if (!mapping_.empty()) return mapping_.data() + off;
      GUESTDUMP_CHECK(source_->read(off, std::span(scratch, len)));
      return static_cast<const std::byte*>(scratch);
    }
    auto it = std::upper_bound(extents_.begin(), extents_.end(), off,
                               [](std::uint64_t o, const Extent& e) { return o < e.target; });
    if (it != extents_.begin()) {
      const Extent& e = *(it - 1);
      if (off >= e.target && off + len <= e.target + e.size) {
        if (!mapping_.empty()) return mapping_.data() + e.source + (off - e.target);
        GUESTDUMP_CHECK(source_->read(e.source + (off - e.target), std::span(scratch, len)));
        return static_cast<const std::byte*>(scratch);
      }
    }
    std::memset(scratch, 0, len);
    std::size_t i =
        it == extents_.begin() ? 0 : static_cast<std::size_t>(it - extents_.begin()) - 1;
    for (; i < extents_.size() && extents_[i].target < off + len; ++i) {
      const Extent& e = extents_[i];
      std::uint64_t lo = std::max(off, e.target);
      std::uint64_t hi = std::min(off + len, e.target + e.size);
      if (lo < hi) {
        GUESTDUMP_CHECK(
            read_stored(e.source + (lo - e.target), std::span(scratch + (lo - off), hi - lo)));
      }
    }
    return static_cast<const std::byte*>(scratch);
  }

  Result<std::vector<std::byte>> copy(std::uint64_t off, std::size_t len) const {
    std::vector<std::byte> out(len);
    GUESTDUMP_TRY(const std::byte* p, view(off, len, out.data()));
    if (p != out.data()) std::memcpy(out.data(), p, len);
    return out;
  }

private:
  explicit LogicalFile(std::unique_ptr<ByteSource> s)
      : source_(std::move(s)), mapping_(source_->mapping()) {}
  // Bytes of the stored (flattened) file itself.
  Result<void> read_stored(std::uint64_t off, std::span<std::byte> out) const {
    if (!mapping_.empty()) {
      std::memcpy(out.data(), mapping_.data() + off, out.size());
      return {};
    }
    return source_->read(off, out);
  }
  std::unique_ptr<ByteSource> source_;
  std::span<const std::byte> mapping_;
  std::vector<Extent> extents_;
  std::uint64_t size_ = 0;
  bool flat_ = false;
};

class KdumpSource final : public DumpSource {
public:
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override;
  Result<std::optional<std::uint64_t>> shared_zero_pages() const override {
    // The zero page is the first page of the data area (makedumpfile, QEMU and guestdump all
    // write it there); descriptors pointing at it with raw flags are shared zero pages.
    const std::uint64_t data_start = desc_offset_ + num_descs_ * kPageDescSize;
    std::uint64_t n = 0;
    std::vector<std::byte> buf;
    constexpr std::uint64_t kBatch = 4096;
    for (std::uint64_t i = 0; i < num_descs_; i += kBatch) {
      std::uint64_t cnt = std::min(kBatch, num_descs_ - i);
      buf.resize(cnt * kPageDescSize);
      GUESTDUMP_TRY(const std::byte* p,
                    file_.view(desc_offset_ + i * kPageDescSize, buf.size(), buf.data()));
      for (std::uint64_t j = 0; j < cnt; ++j) {
        PageDesc d = decode_page_desc(p + j * kPageDescSize);
        if (d.offset == static_cast<std::int64_t>(data_start) && d.flags == 0 &&
            d.size == meta_.page_size)
          ++n;
      }
    }
    return std::optional<std::uint64_t>(n);
  }

  static Result<std::unique_ptr<DumpSource>> open(std::unique_ptr<ByteSource> bytes);

  LogicalFile file_;
  DumpMetadata meta_;
  KdumpHeader hdr_;
  std::uint64_t desc_offset_ = 0;
  std::uint64_t num_descs_ = 0;
  std::vector<std::uint64_t> rank_; // set bits of `available` before each 512-PFN block

  KdumpSource(LogicalFile f) : file_(std::move(f)) {}

  std::uint64_t rank(std::uint64_t pfn) const { // set bits in [0, pfn)
    std::uint64_t block = pfn / 512;
    return rank_[block] + meta_.available.count_range(block * 512, pfn - block * 512);
  }
};

class KdumpPageReader final : public PageReader {
public:
  explicit KdumpPageReader(const KdumpSource& src) : src_(src) {}
  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
    const auto& meta = src_.meta_;
    const std::uint32_t ps = meta.page_size;
    auto bad = [&](const std::string& why) {
      return make_error(ErrorCode::kBadData,
                        "page descriptor of PFN " + std::to_string(pfn) + ": " + why);
    };
    if (!meta.available.test(pfn)) return bad("page is not in the dump");
    std::uint64_t idx = src_.rank(pfn);
    std::byte raw[kPageDescSize];
    auto dp = src_.file_.view(src_.desc_offset_ + idx * kPageDescSize, kPageDescSize, raw);
    if (!dp) return bad(dp.error().message);
    PageDesc d = decode_page_desc(*dp);
    if (d.offset == 0) return bad("never written (incomplete dump)");
    if (d.offset < 0 || static_cast<std::uint64_t>(d.offset) >= src_.file_.size() ||
        d.size > src_.file_.size() - static_cast<std::uint64_t>(d.offset)) {
      return bad("data at offset " + std::to_string(d.offset) + " (" + std::to_string(d.size) +
                 " bytes) lies outside the file");
    }
    if (d.size == 0 || d.size > ps)
      return bad("stored size " + std::to_string(d.size) + " is invalid");
    if (compressed_.size() < ps) compressed_.resize(ps);
    auto data = src_.file_.view(static_cast<std::uint64_t>(d.offset), d.size, compressed_.data());
    if (!data) return bad(data.error().message);
    if (src_.file_.mapped()) {
      // Every kMappedRelease bytes read through the mapping, its page-table entries go, so a
      // large input (libvirt's kdump core in the fallback path) does not fill our resident set.
      mapped_read_ += d.size;
      if (mapped_read_ >= kMappedRelease) {
        mapped_read_ = 0;
        src_.file_.release_mapped_pages();
      }
    }
    if (d.flags == 0 && d.size == ps) return *data;
    auto r = decomp_.decompress(d.flags, std::span(*data, d.size), scratch.first(ps));
    if (!r) return bad(r.error().message);
    return scratch.data();
  }

private:
  static constexpr std::uint64_t kMappedRelease = 32ull << 20;
  const KdumpSource& src_;
  std::uint64_t mapped_read_ = 0;
  PageDecompressor decomp_;
  std::vector<std::byte> compressed_;
};

std::unique_ptr<PageReader> KdumpSource::make_reader() const {
  return std::make_unique<KdumpPageReader>(*this);
}

Error past_end(const LogicalFile& f, const std::string& what) {
  return make_error(ErrorCode::kBadData, what + " lies past the end of the file (" +
                                             std::to_string(f.size()) + " bytes): truncated dump?");
}

// The header decoded with `layout` (guessed when nullopt), reread when its block is not 4096.
Result<KdumpHeader> read_header(const LogicalFile& f, std::optional<KdumpArch> layout) {
  if (f.size() < 4096 + 104) return past_end(f, "kdump header");
  GUESTDUMP_TRY(std::vector<std::byte> head, f.copy(0, 4096 + 104));
  GUESTDUMP_TRY(KdumpHeader hdr, layout ? decode_header(head, *layout) : decode_header(head));
  if (hdr.block_size != 4096) {
    if (f.size() < hdr.block_size + sub_header_size(hdr.arch))
      return past_end(f, "kdump sub header");
    GUESTDUMP_TRY(head, f.copy(0, hdr.block_size + sub_header_size(hdr.arch)));
    GUESTDUMP_TRY(hdr, decode_header(head, hdr.arch));
  }
  return hdr;
}

// The note blob a header points at (header_version >= 4); empty when there is none.
Result<std::vector<std::byte>> read_notes(const LogicalFile& f, const KdumpHeader& hdr) {
  if (hdr.size_note == 0) return std::vector<std::byte>();
  if (hdr.offset_note > f.size() || hdr.size_note > f.size() - hdr.offset_note ||
      hdr.size_note > (64u << 20)) {
    return past_end(f, "notes (" + std::to_string(hdr.size_note) + " bytes at offset " +
                           std::to_string(hdr.offset_note) + ")");
  }
  return f.copy(hdr.offset_note, hdr.size_note);
}

struct ChosenHeader {
  KdumpHeader hdr;
  std::vector<std::byte> notes;
  std::optional<NotesArch> proof;
};

// utsname.machine is free text (QEMU 11.1 writes "Unknown", 7.2 "x86_64"), so the layout is the one
// whose own notes prove it (NT_PRSTATUS register size, VMCOREINFO), else the first that decodes
// with notes that do not contradict it: the guessed layout first, then the other.
Result<ChosenHeader> choose_header(const LogicalFile& f) {
  GUESTDUMP_TRY(KdumpHeader guess, read_header(f, std::nullopt));
  const KdumpArch other = guess.arch == KdumpArch::kX86_64 ? KdumpArch::kI386 : KdumpArch::kX86_64;
  auto attempt = [&](std::optional<KdumpArch> layout) -> Result<ChosenHeader> {
    ChosenHeader c;
    if (layout) {
      GUESTDUMP_TRY(c.hdr, read_header(f, layout));
    } else {
      c.hdr = guess;
    }
    GUESTDUMP_TRY(c.notes, read_notes(f, c.hdr));
    GUESTDUMP_TRY(auto parsed, parse_notes(c.notes));
    GUESTDUMP_TRY(c.proof, arch_from_notes(parsed));
    if (c.proof && c.proof->arch != c.hdr.arch) {
      return make_error(ErrorCode::kBadData, "the " + std::string(machine_name(c.hdr.arch)) +
                                                 " header layout holds notes of another "
                                                 "architecture (" +
                                                 c.proof->evidence + ")");
    }
    return c;
  };
  auto first = attempt(std::nullopt);
  if (first && first->proof) return first;
  auto second = attempt(other);
  if (second && (second->proof || !first)) return second;
  return first;
}

// What the header's machine field says, against what the dump proved.
std::optional<std::string> machine_warning(const ChosenHeader& c) {
  const std::string& machine = c.hdr.utsname[4];
  const auto named = arch_from_machine(machine);
  if (named == c.hdr.arch) return std::nullopt;
  std::string claim = machine.empty() ? "names no machine"
                      : named         ? "says machine '" + machine + "', which disagrees"
                                      : "says machine '" + machine + "'";
  std::string arch(machine_name(c.hdr.arch));
  std::string why = c.proof ? c.proof->evidence : "its header layout and notes";
  return "kdump header " + claim + "; read as " + arch + " from " + why;
}

Result<std::unique_ptr<DumpSource>> KdumpSource::open(std::unique_ptr<ByteSource> bytes) {
  const std::string path = bytes->name();
  GUESTDUMP_TRY(LogicalFile lf, LogicalFile::open(std::move(bytes)));
  std::unique_ptr<KdumpSource> src(new KdumpSource(std::move(lf)));
  const LogicalFile& f = src->file_;
  auto too_short = [&](const std::string& what) { return past_end(f, what); };
  GUESTDUMP_TRY(ChosenHeader chosen, choose_header(f));
  const KdumpHeader& hdr = chosen.hdr;
  if (hdr.split != 0) {
    return make_error(ErrorCode::kUnsupported,
                      "split kdump files (makedumpfile --split) are not supported");
  }
  const std::uint64_t bs = hdr.block_size;
  const std::uint64_t max_pfn = hdr.max_mapnr_64;
  if (max_pfn == 0 || max_pfn > (std::uint64_t{1} << 40)) {
    return make_error(ErrorCode::kBadData,
                      "kdump header: implausible max_mapnr " + std::to_string(max_pfn));
  }
  const std::uint64_t bitmap1 = (1 + std::uint64_t{hdr.sub_hdr_size}) * bs;
  const std::uint64_t half = std::uint64_t{hdr.bitmap_blocks} / 2 * bs;
  if (bitmap1 + 2 * half > f.size()) return too_short("bitmap");
  // The bitmaps are allocated from max_mapnr: the file must really hold their bytes (a
  // flattened file's gaps would let a tiny file claim terabytes).
  if ((max_pfn + 7) / 8 > f.stored()) {
    return make_error(ErrorCode::kBadData, "kdump header: max_mapnr " + std::to_string(max_pfn) +
                                               " needs " + std::to_string((max_pfn + 7) / 8) +
                                               "-byte bitmaps, but the file holds only " +
                                               std::to_string(f.stored()) + " bytes");
  }
  DumpMetadata& meta = src->meta_;
  meta.path = path;
  meta.format = f.flat() ? "kdump (flattened)" : "kdump";
  meta.arch = hdr.arch;
  meta.page_size = hdr.block_size;
  meta.max_pfn = max_pfn;
  meta.dump_level = hdr.dump_level;
  meta.codec_flags = hdr.status & (kFlagZlib | kFlagLzo | kFlagSnappy | kFlagZstd);
  meta.timestamp_sec = hdr.timestamp_sec;
  meta.utsname = hdr.utsname;
  meta.nr_cpus = hdr.nr_cpus;
  meta.phys_base = hdr.phys_base;
  meta.kdump_header_version = hdr.header_version;
  {
    std::size_t nbytes = static_cast<std::size_t>((max_pfn + 7) / 8);
    GUESTDUMP_TRY(std::vector<std::byte> tmp, f.copy(bitmap1, nbytes));
    meta.ram = PfnBitmap::from_bytes(tmp, max_pfn);
    GUESTDUMP_TRY(tmp, f.copy(bitmap1 + half, nbytes));
    meta.available = PfnBitmap::from_bytes(tmp, max_pfn);
  }
  meta.available.intersect(meta.ram);
  if (auto w = machine_warning(chosen)) meta.warnings.push_back(std::move(*w));
  // Notes (header_version >= 4) and VMCOREINFO (>= 3).
  meta.notes = std::move(chosen.notes);
  {
    GUESTDUMP_TRY(auto notes, parse_notes(meta.notes));
    if (const NoteView* vi = find_vmcoreinfo(notes)) {
      meta.vmcoreinfo = VmcoreInfo::parse(
          std::string_view(reinterpret_cast<const char*>(vi->desc.data()), vi->desc.size()));
    }
    if (int n = count_prstatus(notes); n > 0) meta.nr_cpus = n;
    meta.producer = dump_producer(notes, hdr.utsname);
  }
  meta.machine_frames = machine_frames_from_notes(meta.notes, meta.warnings); // Xen PV output
  if (!meta.vmcoreinfo && hdr.size_vmcoreinfo > 0) {
    if (hdr.offset_vmcoreinfo > f.size() ||
        hdr.size_vmcoreinfo > f.size() - hdr.offset_vmcoreinfo ||
        hdr.size_vmcoreinfo > (1u << 20)) {
      return too_short("VMCOREINFO");
    }
    GUESTDUMP_TRY(auto text, f.copy(hdr.offset_vmcoreinfo, hdr.size_vmcoreinfo));
    meta.vmcoreinfo = VmcoreInfo::parse(
        std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
  }
  // Descriptor table: one per set bit of the 2nd bitmap.
  src->hdr_ = hdr;
  src->desc_offset_ = bitmap1 + 2 * half;
  src->num_descs_ = meta.available.count();
  if (src->num_descs_ > (f.size() - src->desc_offset_) / kPageDescSize) {
    return too_short("page descriptor table (" + std::to_string(src->num_descs_) + " entries)");
  }
  src->rank_.resize(max_pfn / 512 + 1);
  std::uint64_t acc = 0;
  for (std::uint64_t b = 0; b < src->rank_.size(); ++b) {
    src->rank_[b] = acc;
    acc += meta.available.count_range(b * 512, 512);
  }
  return std::unique_ptr<DumpSource>(std::move(src));
}

} // namespace

Result<std::unique_ptr<DumpSource>> open_kdump(const std::string& path) {
  GUESTDUMP_TRY(MappedFile mapped, MappedFile::open(path));
  return KdumpSource::open(std::make_unique<MappedByteSource>(std::move(mapped)));
}

Result<std::unique_ptr<DumpSource>> open_kdump(std::unique_ptr<ByteSource> bytes) {
  return KdumpSource::open(std::move(bytes));
}

} // namespace guestdump::formats
