#pragma once
// Streaming capture: an ELF core arriving through a pipe (QEMU `dump-guest-memory` with
// `protocol: fd:NAME`, `paging: false`) becomes a kdump-compressed file without a temporary
// file of guest-RAM size.
//
// Two phases, because the page filter needs page tables and `struct page`s that may arrive
// after the pages they describe:
//  1. receive(): read the stream once; zero pages are only noted, every other page is
//     compressed (on all cores) and appended to the output file's temporary, behind a region
//     reserved for the final headers, bitmaps and a descriptor per RAM page. The result is a
//     DumpSource whose reader decompresses from that spool, so the filter and the kernel-log
//     extraction run on it as on any dump.
//  2. finish(): given the final dumpable bitmap, write headers, bitmaps and descriptors, move
//     the kept pages' compressed bytes down in file order (never overtaking unread bytes), cut
//     the file after the last kept page, and commit it under its final name.
// Peak disk use is the size of the dump level-1 output plus one descriptor per RAM page.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/formats/codec.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/kdump_format.h"
#include "guestdump/formats/kdump_writer.h"
#include "guestdump/formats/pfn_bitmap.h"

namespace guestdump::formats {

struct StreamCaptureOptions {
  int input_fd = -1;      // the stream; read until end of file (not closed here)
  std::string input_name; // names the stream in errors, e.g. "QEMU dump stream"
  std::string output;     // the final kdump file (a regular file path)
  Codec codec = Codec::kZstd;
  unsigned threads = 0; // 0 = online CPUs
  /// Bytes of the stream received so far and the total the ELF headers announce.
  std::function<void(std::uint64_t bytes, std::uint64_t total)> progress;
};

class SpooledDump final : public DumpSource {
public:
  /// Phase 1: reads the whole stream. On failure nothing is left at `output`.
  static Result<std::unique_ptr<SpooledDump>> receive(const StreamCaptureOptions& opts);
  ~SpooledDump() override;

  const DumpMetadata& metadata() const override;
  std::unique_ptr<PageReader> make_reader() const override;

  /// Bytes of the stream consumed (headers, gaps and page data).
  std::uint64_t bytes_received() const;

  /// Phase 2: writes the kdump file with the pages in `dumpable` (a subset of the available
  /// pages) and commits it. `identity` as for write_kdump (utsname, time, phys_base, level,
  /// CPUs); `notes` may be larger than the stream's by up to kExtraNoteRoom bytes.
  /// `share_zero_pages`: dump level bit 1. Call at most once.
  Result<KdumpWriteStats> finish(const KdumpHeader& identity, std::span<const std::byte> notes,
                                 const PfnBitmap& dumpable, bool share_zero_pages);

  /// Room reserved for notes that finish() adds to the stream's own.
  static constexpr std::uint64_t kExtraNoteRoom = 64 * 1024;

  struct Impl;

private:
  explicit SpooledDump(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace guestdump::formats
