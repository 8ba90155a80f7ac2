#pragma once
// Writes kdump-compressed files from a DumpSource, compressing on all cores while the output
// stays in PFN order and memory stays bounded (a fixed ring of chunk buffers).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/formats/codec.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/kdump_format.h"
#include "guestdump/formats/pfn_bitmap.h"

namespace guestdump::formats {

/// Where the bytes go: positioned writes into a file, or a flattened stream.
class OutputSink {
public:
  virtual ~OutputSink() = default;
  virtual Result<void> write_at(std::uint64_t offset, std::span<const std::byte> data) = 0;
  /// Flushes buffers; a flattened stream gets its end marker.
  virtual Result<void> finish() = 0;
  /// Bytes the sink wrote to its descriptor so far.
  virtual std::uint64_t bytes_out() const = 0;
};
std::unique_ptr<OutputSink> make_positioned_sink(int fd, std::string name);
std::unique_ptr<OutputSink> make_flattened_sink(int fd, std::string name);

struct KdumpWriteRequest {
  const DumpSource* source = nullptr;
  /// Identity fields (utsname, timestamp, phys_base, dump_level, nr_cpus, arch); the writer
  /// fills the layout fields.
  KdumpHeader header;
  std::span<const std::byte> notes;
  const PfnBitmap* ram = nullptr;      // 1st bitmap
  const PfnBitmap* dumpable = nullptr; // 2nd bitmap: pages that get a descriptor
  Codec codec = Codec::kZstd;
  bool share_zero_pages = true; // dump level bit 1
  unsigned threads = 0;         // 0 = online CPUs
  std::function<void(std::uint64_t pages_done, std::uint64_t pages_total)> progress;
};

struct KdumpWriteStats {
  std::uint64_t pages_dumped = 0;
  std::uint64_t pages_zero = 0;
  std::uint64_t pages_compressed = 0;
  std::uint64_t pages_raw = 0;
  std::uint64_t file_size = 0; // size of the (reassembled) kdump file
  unsigned threads = 0;
};

Result<KdumpWriteStats> write_kdump(const KdumpWriteRequest& req, OutputSink& sink);

/// Writes the header blocks (main and sub header, notes) and both bitmaps, and returns the
/// region map; the caller writes descriptors at offset_descs and data from offset_data on.
Result<KdumpLayout> write_kdump_head(OutputSink& sink, const KdumpHeader& identity,
                                     std::span<const std::byte> notes, const PfnBitmap& ram,
                                     const PfnBitmap& dumpable, Codec codec,
                                     std::uint32_t page_size);

} // namespace guestdump::formats
