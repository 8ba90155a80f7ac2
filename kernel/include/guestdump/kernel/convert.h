#pragma once
// The library calls behind `guestdump convert | info | verify`.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "guestdump/common/byte_source.h"
#include "guestdump/common/result.h"
#include "guestdump/formats/codec.h"
#include "guestdump/formats/kdump_writer.h"
#include "guestdump/kernel/page_filter.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

namespace guestdump::kernel {

inline constexpr int kDumpLevelZero = 1;  // exclude zero pages
inline constexpr int kDumpLevelCache = 2; // page cache without private data
inline constexpr int kDumpLevelCachePrivate = 4;
inline constexpr int kDumpLevelUser = 8;
inline constexpr int kDumpLevelFree = 16;
/// Checks a -d value: 0-31 (every bit is implemented).
Result<void> check_dump_level(int level);

/// What convert() writes.
enum class OutputFormat {
  kKdump, // kdump-compressed
  kElf,   // filtered ELF core, like makedumpfile -E (elf_writer.h); codec/threads do not apply
};

struct ConvertOptions {
  OutputFormat format = OutputFormat::kKdump;
  bool extract_dmesg = false; // also return the guest kernel log (ConvertResult::dmesg)
  std::string input;
  std::string output;  // "-" = flattened stream on standard output
  int dump_level = 31; // design.md: makedumpfile -d 31 unless asked otherwise
  formats::Codec codec = formats::Codec::kZstd;
  unsigned threads = 0;   // 0 = online CPUs
  bool flattened = false; // forced for "-" and non-seekable outputs
  /// The user named the output: a FIFO or character device there is written as a stream.
  /// Otherwise only a regular file (or a new name) is written (OutputFile::Target::kFile).
  bool output_may_be_stream = false;
  LocateOptions locate; // finding VMCOREINFO in guest memory when the input has none
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct ConvertResult {
  std::string input_format;
  std::uint64_t pages_ram = 0;
  std::uint64_t pages_not_in_source = 0; // excluded by whoever wrote the input
  int dump_level = 0;
  bool flattened = false;
  formats::KdumpWriteStats stats;
  PageClassCounts excluded;           // pages the filter excluded, per class
  std::uint64_t pages_unfiltered = 0; // pages kept because their struct page was unreadable
  std::string filter_fallback;        // why pages were kept without a decision; empty if none
  OutputFormat format = OutputFormat::kKdump;
  std::uint64_t elf_segments = 0; // kElf: PT_LOAD headers written
  /// extract_dmesg: the log as makedumpfile --dump-dmesg prints it, or why there is none (the
  /// dump is written either way).
  std::optional<std::string> dmesg;
  std::string dmesg_error;
  std::string vmcoreinfo_origin; // "dump note", "guest memory at PA 0x…", "none", ...
};

/// Converts any supported dump into a kdump-compressed file. The output appears under its name
/// only when complete; on any failure nothing is left at the output path.
Result<ConvertResult> convert(const ConvertOptions& opts);

struct DumpSummary {
  std::string path;
  std::string format;
  std::string arch;
  std::string release; // VMCOREINFO OSRELEASE, else header utsname
  std::uint32_t page_size = 0;
  std::uint64_t max_pfn = 0;
  std::uint64_t pages_ram = 0;             // 1st bitmap / PT_LOAD coverage
  std::uint64_t pages_dumped = 0;          // pages with data
  std::optional<std::uint64_t> pages_zero; // kdump: descriptors sharing the zero page
  std::optional<int> dump_level;
  std::optional<std::string> codec;
  std::optional<std::int32_t> header_version;
  int nr_cpus = 0;
  std::int64_t crash_time = 0; // 0 = unknown
  bool has_vmcoreinfo = false;
  std::string vmcoreinfo_origin; // the filter record's when the file has one
  std::uint64_t file_size = 0;
  std::optional<FilterRecord> filter; // guestdump's filter note, when the file has one
  std::string producer;               // who wrote the file, where it shows; empty if unknown
  std::vector<std::string> warnings;  // what the file claims and the reader did not believe
  // Xen PV: what became of the guest's page tables (pv_page_tables.h), from the output's note
  // or, for an xc_core, from the view that reads it; empty for every other guest.
  std::string page_tables;
};

/// Reads a dump's headers (and, for kdump files, its descriptors) without reading page data.
Result<DumpSummary> inspect(const std::string& path);
/// The same for a file read through `bytes` (a remote object): kdump-compressed files only, and
/// only the blocks the summary needs are read.
Result<DumpSummary> inspect(std::unique_ptr<ByteSource> bytes);

struct VerifyReport {
  std::uint64_t pages_checked = 0;
  std::uint64_t pages_compared = 0; // with --against
  std::uint64_t pages_zero = 0;
};

/// Structural check: every descriptor in bounds, every page decompresses to exactly one page.
/// With `against`, every dumped page must equal the source's page and the RAM maps must agree.
/// The first problem found is returned as the error.
Result<VerifyReport> verify(const std::string& path, const std::optional<std::string>& against,
                            std::function<void(std::uint64_t, std::uint64_t)> progress = {});

} // namespace guestdump::kernel
