// open_dump(): the one entry point that picks a reader from a file's first bytes.

#include "guestdump/formats/dump_source.h"

#include <algorithm>
#include <cstring>

#include <fcntl.h>

#include "guestdump/common/io.h"
#include "guestdump/formats/kdump_format.h"
#include "guestdump/formats/xen_core.h"

namespace guestdump::formats {

MachineFrameMap::MachineFrameMap(std::vector<std::pair<std::uint64_t, std::uint64_t>> mfn_pfn)
    : map_(std::move(mfn_pfn)) {
  std::sort(map_.begin(), map_.end());
}

std::optional<std::uint64_t> MachineFrameMap::pfn(std::uint64_t mfn) const {
  auto it = std::lower_bound(map_.begin(), map_.end(), mfn,
                             [](const auto& e, std::uint64_t m) { return e.first < m; });
  if (it == map_.end() || it->first != mfn) return std::nullopt;
  return it->second;
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
