// open_dump(): the one entry point that picks a reader from a file's first bytes.

#include "guestdump/formats/dump_source.h"

#include <algorithm>
#include <cstring>

#include <fcntl.h>

#include "guestdump/common/io.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/formats/kdump_format.h"
#include "guestdump/formats/xen_core.h"

namespace guestdump::formats {

namespace {
constexpr std::uint64_t kMaxFrame = 1ULL << 40; // 52-bit addresses

class MetadataView final : public DumpSource {
public:
  MetadataView(std::unique_ptr<DumpSource> owned, const DumpSource& inner, DumpMetadata meta)
      : owned_(std::move(owned)), inner_(inner), meta_(std::move(meta)) {}
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override { return inner_.make_reader(); }
  Result<std::optional<std::uint64_t>> shared_zero_pages() const override {
    return inner_.shared_zero_pages();
  }

private:
  std::unique_ptr<DumpSource> owned_; // null for a view of a source the caller keeps
  const DumpSource& inner_;
  DumpMetadata meta_;
};
} // namespace

std::unique_ptr<DumpSource> with_metadata(std::unique_ptr<DumpSource> inner, DumpMetadata meta) {
  const DumpSource& ref = *inner;
  return std::make_unique<MetadataView>(std::move(inner), ref, std::move(meta));
}

std::unique_ptr<DumpSource> view_with_metadata(const DumpSource& inner, DumpMetadata meta) {
  return std::make_unique<MetadataView>(nullptr, inner, std::move(meta));
}

MachineFrameMap::MachineFrameMap(std::vector<std::pair<std::uint64_t, std::uint64_t>> mfn_pfn) {
  std::sort(mfn_pfn.begin(), mfn_pfn.end());
  for (const auto& [mfn, pfn] : mfn_pfn) {
    if (!runs_.empty()) {
      Run& last = runs_.back();
      if (mfn == last.mfn + last.count && pfn == last.pfn + last.count) {
        ++last.count;
        continue;
      }
    }
    runs_.push_back({mfn, pfn, 1});
  }
}

std::optional<MachineFrameMap> MachineFrameMap::from_runs(std::vector<Run> runs) {
  for (const Run& r : runs) {
    if (r.count == 0 || r.mfn >= kMaxFrame || r.pfn >= kMaxFrame || r.count > kMaxFrame - r.mfn ||
        r.count > kMaxFrame - r.pfn) {
      return std::nullopt;
    }
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.mfn < b.mfn; });
  for (std::size_t i = 1; i < runs.size(); ++i) {
    if (runs[i].mfn < runs[i - 1].mfn + runs[i - 1].count) return std::nullopt;
  }
  MachineFrameMap m;
  m.runs_ = std::move(runs);
  return m;
}

std::optional<std::uint64_t> MachineFrameMap::pfn(std::uint64_t mfn) const {
  auto it = std::upper_bound(runs_.begin(), runs_.end(), mfn,
                             [](std::uint64_t m, const Run& r) { return m < r.mfn; });
  if (it == runs_.begin()) return std::nullopt;
  --it;
  if (mfn - it->mfn >= it->count) return std::nullopt;
  return it->pfn + (mfn - it->mfn);
}

std::uint64_t MachineFrameMap::size() const {
  std::uint64_t n = 0;
  for (const Run& r : runs_) n += r.count;
  return n;
}

std::vector<std::byte> machine_frames_note_desc(const MachineFrameMap& map) {
  std::vector<std::byte> out(map.runs().size() * 24);
  std::size_t off = 0;
  for (const auto& r : map.runs()) {
    for (std::uint64_t v : {r.mfn, r.pfn, r.count}) {
      std::memcpy(out.data() + off, &v, 8);
      off += 8;
    }
  }
  return out;
}

std::shared_ptr<const MachineFrameMap>
machine_frames_from_notes(std::span<const std::byte> notes, std::vector<std::string>& warnings) {
  auto parsed = parse_notes(notes);
  if (!parsed) return nullptr;
  for (const NoteView& n : *parsed) {
    if (n.name != "GUESTDUMP" || n.type != kMachineFramesNoteType) continue;
    std::optional<MachineFrameMap> map;
    if (n.desc.size() % 24 == 0) {
      std::vector<MachineFrameMap::Run> runs(n.desc.size() / 24);
      for (std::size_t i = 0; i < runs.size(); ++i) {
        std::memcpy(&runs[i].mfn, n.desc.data() + i * 24, 8);
        std::memcpy(&runs[i].pfn, n.desc.data() + i * 24 + 8, 8);
        std::memcpy(&runs[i].count, n.desc.data() + i * 24 + 16, 8);
      }
      map = MachineFrameMap::from_runs(std::move(runs));
    }
    if (!map) {
      warnings.push_back("the Xen PV machine-frame note (" + std::to_string(n.desc.size()) +
                         " bytes) is malformed: page-table walks read machine frames as PFNs");
      return nullptr;
    }
    return std::make_shared<const MachineFrameMap>(std::move(*map));
  }
  return nullptr;
}

Result<std::unique_ptr<DumpSource>> open_dump(const std::string& path) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_RDONLY));
  std::byte head[4096 + 16 + 8] = {};
  GUESTDUMP_TRY(std::size_t n, read_full(fd.get(), head, path));
  std::span<const std::byte> h(head, n);
  if (n == 0) return make_error(ErrorCode::kBadData, "empty file");
  if (n >= 4 && std::memcmp(head,
                            "\x7f"
                            "ELF",
                            4) == 0) {
    // xl dump-core files are ELF cores with section headers only.
    return looks_like_xen_core(h) ? open_xen_core(path) : open_elf_core(path);
  }
  if (n >= 8 && std::memcmp(head, kKdumpSignature, 8) == 0) return open_kdump(path);
  if (is_flat_header(h)) {
    // The first record of a flattened kdump carries the main header at offset 0.
    if (n >= kFlatHeaderSize + kFlatRecordHeaderSize + 8 &&
        std::memcmp(head + kFlatHeaderSize + kFlatRecordHeaderSize, kKdumpSignature, 8) == 0) {
      return open_kdump(path);
    }
    return make_error(ErrorCode::kUnsupported,
                      "flattened file does not start with a kdump header (flattened ELF is not "
                      "supported; reassemble it with makedumpfile -R)");
  }
  return make_error(ErrorCode::kBadData,
                    "unrecognised format (not an ELF core, kdump-compressed or flattened file)");
}

Result<std::unique_ptr<DumpSource>> open_dump(std::unique_ptr<ByteSource> bytes) {
  std::byte head[4096 + 16 + 8] = {};
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof head, bytes->size()));
  if (n == 0) return make_error(ErrorCode::kBadData, "'" + bytes->name() + "': empty file");
  GUESTDUMP_CHECK(bytes->read(0, std::span(head, n)));
  std::span<const std::byte> h(head, n);
  const bool kdump = n >= 8 && std::memcmp(head, kKdumpSignature, 8) == 0;
  const bool flat_kdump =
      is_flat_header(h) && n >= kFlatHeaderSize + kFlatRecordHeaderSize + 8 &&
      std::memcmp(head + kFlatHeaderSize + kFlatRecordHeaderSize, kKdumpSignature, 8) == 0;
  if (kdump || flat_kdump) return open_kdump(std::move(bytes));
  return make_error(ErrorCode::kUnsupported,
                    "'" + bytes->name() +
                        "': not a kdump-compressed file (only those are read in place; download "
                        "other formats first)");
}

} // namespace guestdump::formats
