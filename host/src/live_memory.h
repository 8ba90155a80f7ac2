#pragma once
// Reading a stopped QEMU guest's RAM straight out of the QEMU process (the selective capture's
// fast path): QEMU's flat memory map (HMP `info mtree -f`) gives guest-physical ranges as
// (RAM block, offset); /proc/PID/maps gives the candidate host mappings; one known page (read
// through a tiny QEMU dump) picks the mapping that really holds the block; process_vm_readv()
// then reads any set of pages in one system call. Private to host/.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/dump_source.h"

namespace guestdump::host::detail {

/// A guest-physical range backed by RAM (or ROM) of one QEMU RAM block.
struct GuestRamRange {
  std::uint64_t gpa = 0;
  std::uint64_t size = 0;
  std::string block;
  std::uint64_t block_offset = 0;
};

/// The RAM/ROM ranges of the flat view of address space "memory" in `info mtree -f` output.
Result<std::vector<GuestRamRange>> parse_mtree_flat(std::string_view text);

/// A mapping line of /proc/PID/maps.
struct ProcMapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::string perms;
  std::string path;
};
std::vector<ProcMapping> parse_proc_maps(std::string_view text);

/// Guest RAM inside a live QEMU process, as a DumpSource (readers use process_vm_readv).
class LiveGuestMemory final : public formats::DumpSource {
public:
  /// `meta` supplies notes, VMCOREINFO, CPUs and arch (from a tiny QEMU dump); its RAM maps
  /// are replaced by `ranges`. `hva` maps each block name to its host address in `pid`;
  /// ranges of other blocks are served from `local` copies (small ROMs fetched beforehand),
  /// keyed by the range's guest-physical start.
  LiveGuestMemory(pid_t pid, formats::DumpMetadata meta, std::vector<GuestRamRange> ranges,
                  std::vector<std::pair<std::string, std::uint64_t>> hva,
                  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> local);
  const formats::DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<formats::PageReader> make_reader() const override;

  /// Replaces the CPU notes (and the CPU count) of metadata(), as when the guest was stopped
  /// after its memory was located.
  void set_cpu_notes(std::vector<std::byte> notes, int nr_cpus) {
    meta_.notes = std::move(notes);
    meta_.nr_cpus = nr_cpus;
  }
  /// Host address of guest page `pfn`, or nullopt outside RAM.
  std::optional<std::uint64_t> host_address(std::uint64_t pfn) const;
  /// Reads the pages `pfns` (each in RAM) into `out` (pfns.size() pages), batching up to 1024
  /// pages per system call.
  Result<void> read_pages(std::span<const std::uint64_t> pfns, std::span<std::byte> out) const;
  /// How many pages from `pfn` on lie in the same RAM block (0 outside RAM).
  std::uint64_t pages_in_block_from(std::uint64_t pfn) const;
  /// The RAM pages QEMU's process has ever touched (present or swapped in /proc/PID/pagemap;
  /// local ROM copies count as touched). A page it never touched reads as zeros.
  Result<formats::PfnBitmap> populated() const;
  /// Narrows metadata().available to `pages` (within RAM): readers of this view skip the rest.
  void restrict_available(const formats::PfnBitmap& pages);
  pid_t pid() const { return pid_; }

private:
  pid_t pid_;
  formats::DumpMetadata meta_;
  struct Span {
    std::uint64_t first_pfn, pages, host;
    const std::byte* local; // non-null: served from local_
  };
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> local_;
  std::vector<Span> spans_; // sorted by first_pfn
  const Span* span_of(std::uint64_t pfn) const;
};

/// Finds the host address of every block in `ranges` inside `pid`: among mappings big enough
/// for the block, the one whose bytes at guest page `probe_pfn` equal `probe_page`.
/// Blocks without the probe page are located by size alone when exactly one mapping fits.
Result<std::vector<std::pair<std::string, std::uint64_t>>>
locate_blocks(pid_t pid, const std::vector<GuestRamRange>& ranges, std::uint64_t probe_pfn,
              std::span<const std::byte> probe_page, std::uint32_t page_size);

/// An anonymous mapping populated up front (see create()).
class AnonymousBuffer {
public:
  static Result<AnonymousBuffer> create(std::size_t size);
  AnonymousBuffer() = default;
  AnonymousBuffer(AnonymousBuffer&& o) noexcept { *this = std::move(o); }
  AnonymousBuffer& operator=(AnonymousBuffer&& o) noexcept;
  ~AnonymousBuffer();
  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Copies pages `pfns` of a guest into `out` (pfns.size() pages): LiveGuestMemory::read_pages.
using PageCopier =
    std::function<Result<void>(std::span<const std::uint64_t> pfns, std::span<std::byte> out)>;

/// Where a PageSnapshot keeps its copy: in memory up to `memory_limit` bytes of pages; a larger
/// copy goes to an unlinked file (mode 0600) in `spool_dir`, so the capture's memory stays
/// bounded on any guest and its pause still ends when the copy is taken. No `spool_dir`: a
/// copy above the limit is refused (the caller then compresses from the stopped guest).
struct SnapshotStorage {
  std::uint64_t memory_limit = 32ull << 20;
  std::string spool_dir;
};

/// Copies of the `keep` pages of a guest, so the guest can run again before compression starts.
class PageSnapshot final : public formats::DumpSource {
public:
  static Result<std::unique_ptr<PageSnapshot>>
  take(const LiveGuestMemory& src, const formats::PfnBitmap& keep, const SnapshotStorage& storage);
  /// The same for any guest memory: `meta` is the source's metadata (its `available` bitmap
  /// limits `keep`), `copy` reads pages.
  static Result<std::unique_ptr<PageSnapshot>> take(const formats::DumpMetadata& meta,
                                                    const PageCopier& copy,
                                                    const formats::PfnBitmap& keep,
                                                    const SnapshotStorage& storage);
  const formats::DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<formats::PageReader> make_reader() const override;
  std::uint64_t bytes() const { return size_; }
  /// True when the copy is in a spool file rather than in memory.
  bool spooled() const { return spool_.valid(); }

private:
  friend class SnapshotReader;
  /// Index of `pfn` (which must be in meta_.available) among the copied pages.
  std::uint64_t index_of(std::uint64_t pfn) const {
    return rank_[pfn >> 6] + meta_.available.count_in_word_below(pfn);
  }
  formats::DumpMetadata meta_;
  std::vector<std::uint64_t> rank_; // set bits of meta_.available before each 64-bit word
  AnonymousBuffer data_;
  UniqueFd spool_;
  std::string spool_name_; // for errors
  std::uint64_t size_ = 0;
};

} // namespace guestdump::host::detail
