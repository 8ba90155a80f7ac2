#pragma once
// DumpSource: guest physical memory plus its metadata, whatever file it came from.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "guestdump/common/byte_source.h"
#include "guestdump/common/result.h"
#include "guestdump/formats/kdump_format.h"
#include "guestdump/formats/pfn_bitmap.h"
#include "guestdump/formats/vmcoreinfo.h"

namespace guestdump::formats {

/// A Xen PV guest's machine-to-pseudo-physical map. Its page-table entries (and CR3) hold
/// machine frames (MFNs) while its dump is indexed by pseudo-physical frames (PFNs); page-table
/// walks translate every frame they follow through this map. Kept as runs of frames consecutive
/// in both numberings (a PV guest's memory comes in large machine-contiguous chunks).
class MachineFrameMap {
public:
  struct Run {
    std::uint64_t mfn = 0, pfn = 0, count = 0;
  };
  /// {mfn, pfn} pairs, any order; each MFN at most once (the caller checks).
  explicit MachineFrameMap(std::vector<std::pair<std::uint64_t, std::uint64_t>> mfn_pfn);
  /// Runs as a file recorded them: refused (nullopt) unless each is non-empty, inside 2^40
  /// frames and no two share a machine frame.
  static std::optional<MachineFrameMap> from_runs(std::vector<Run> runs);
  /// The PFN of `mfn`, or nullopt for a frame the guest does not own.
  std::optional<std::uint64_t> pfn(std::uint64_t mfn) const;
  /// Frames mapped.
  std::uint64_t size() const;
  const std::vector<Run>& runs() const { return runs_; }

private:
  MachineFrameMap() = default;
  std::vector<Run> runs_; // sorted by MFN, disjoint
};

/// The map in an output file: a "GUESTDUMP" note of this type whose descriptor is the runs as
/// little-endian {mfn, pfn, count} u64 triples. Readers other than guestdump skip it.
inline constexpr std::uint32_t kMachineFramesNoteType = 0x47440002; // "GD" + 2
std::vector<std::byte> machine_frames_note_desc(const MachineFrameMap& map);
/// The map from a dump's notes, or null without the note; a malformed note is ignored with a
/// message in `warnings`.
std::shared_ptr<const MachineFrameMap>
machine_frames_from_notes(std::span<const std::byte> notes, std::vector<std::string>& warnings);

struct DumpMetadata {
  std::string path;
  std::string format; // "elf64", "elf32", "kdump", "kdump (flattened)"
  KdumpArch arch = KdumpArch::kX86_64;
  std::uint32_t page_size = 4096;
  std::uint64_t max_pfn = 0;    // one past the highest PFN of RAM
  PfnBitmap ram;                // PFNs inside the dumped machine's memory ranges
  PfnBitmap available;          // PFNs whose contents this file holds (subset of ram)
  std::vector<std::byte> notes; // the ELF note blob (CPU state, VMCOREINFO, ...)
  std::optional<VmcoreInfo> vmcoreinfo;
  // Where vmcoreinfo came from when not from this file's own notes (vmcoreinfo_locator.h).
  std::string vmcoreinfo_origin;
  int nr_cpus = 0;
  // Carried over from kdump input (zero / empty for ELF input).
  int dump_level = 0;
  std::uint32_t codec_flags = 0;
  std::int64_t timestamp_sec = 0;
  std::array<std::string, 6> utsname;
  std::optional<std::uint64_t> phys_base;
  int kdump_header_version = 0; // 0 for non-kdump input
  std::string producer;         // who wrote the file, where it shows (dump_producer()); or empty
  // Degraded but readable: what the file claims and the reader did not believe ("kdump header
  // says machine 'Unknown'; ..."). `guestdump info` prints them.
  std::vector<std::string> warnings;
  // Xen PV guests only (xc_core with '.xen_p2m'); null for every other dump.
  std::shared_ptr<const MachineFrameMap> machine_frames;
};

/// Reads page contents; one per thread.
class PageReader {
public:
  virtual ~PageReader() = default;
  /// Returns the bytes of page `pfn` (which must be set in metadata().available): a pointer into
  /// the source's mapping, or into `scratch` (page_size bytes). Errors name the PFN.
  virtual Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) = 0;
};

class DumpSource {
public:
  virtual ~DumpSource() = default;
  virtual const DumpMetadata& metadata() const = 0;
  /// A new reader; readers of one source may run concurrently.
  virtual std::unique_ptr<PageReader> make_reader() const = 0;
  /// kdump input: how many descriptors share the zero page (nullopt for other formats).
  virtual Result<std::optional<std::uint64_t>> shared_zero_pages() const {
    return std::optional<std::uint64_t>();
  }
};

/// `inner` seen with other metadata (a VMCOREINFO found elsewhere, say); readers and the
/// zero-page count are the inner source's.
std::unique_ptr<DumpSource> with_metadata(std::unique_ptr<DumpSource> inner, DumpMetadata meta);
/// The same over a source the caller keeps alive at least as long as the result.
std::unique_ptr<DumpSource> view_with_metadata(const DumpSource& inner, DumpMetadata meta);

/// Opens any supported dump, detected from its first bytes: ELF core (QEMU, libvirt,
/// /proc/vmcore, makedumpfile -E), kdump-compressed, or flattened kdump-compressed.
Result<std::unique_ptr<DumpSource>> open_dump(const std::string& path);

Result<std::unique_ptr<DumpSource>> open_elf_core(const std::string& path);
Result<std::unique_ptr<DumpSource>> open_kdump(const std::string& path);
/// A kdump-compressed (or flattened) file read through `bytes`: only the header, notes, bitmaps
/// and the descriptors and pages asked for are read, so a remote object is not fetched whole.
Result<std::unique_ptr<DumpSource>> open_kdump(std::unique_ptr<ByteSource> bytes);
/// open_dump() for a source that may not be a local file: kdump-compressed files (plain or
/// flattened) only; an ELF core is refused with kUnsupported.
Result<std::unique_ptr<DumpSource>> open_dump(std::unique_ptr<ByteSource> bytes);

} // namespace guestdump::formats
