#pragma once
// Page filtering by dump level (makedumpfile's -d bits): decides from each page's `struct page`
// which pages a dump keeps, with makedumpfile's rules for the guest's kernel version, using only
// VMCOREINFO (flags via NUMBER(PG_*), mapping's anon bit, _mapcount page types, compound
// head/order/destructor, private). Zero pages are left to the writer. When the kernel model or a
// needed VMCOREINFO key is missing, the affected pages are kept and the reason is returned.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/pfn_bitmap.h"
#include "guestdump/formats/vmcoreinfo.h"

namespace guestdump::kernel {

/// Pages excluded per class (makedumpfile's pfn_cache, pfn_cache_private, pfn_user, pfn_free,
/// pfn_hwpoison, pfn_offline).
struct PageClassCounts {
  std::uint64_t cache = 0;         // page cache without private data (bit 2, or bit 4)
  std::uint64_t cache_private = 0; // page cache with private data (bit 4)
  std::uint64_t user = 0;          // anonymous and hugetlbfs pages (bit 8)
  std::uint64_t free = 0;          // buddy-free (and unaccepted) pages (bit 16)
  std::uint64_t hwpoison = 0;      // always, when the scan runs
  std::uint64_t offline = 0;       // PageOffline (balloon), always when the scan runs
  std::uint64_t unmanaged = 0;     // past the kernel's last mem_map (firmware ROM above RAM, mem=)
  std::uint64_t total() const {
    return cache + cache_private + user + free + hwpoison + offline + unmanaged;
  }
  bool operator==(const PageClassCounts&) const = default;
  PageClassCounts& operator+=(const PageClassCounts& o) {
    cache += o.cache;
    cache_private += o.cache_private;
    user += o.user;
    free += o.free;
    hwpoison += o.hwpoison;
    offline += o.offline;
    unmanaged += o.unmanaged;
    return *this;
  }
};

enum class PageClass : std::uint8_t {
  kKeep,
  kTail, // a compound tail page: decided with its head
  kFree,
  kCache,
  kCachePrivate,
  kUser,
  kHwpoison,
  kOffline,
};

/// The per-page rules of one guest kernel at one dump level.
class PageRules {
public:
  struct Decision {
    PageClass cls = PageClass::kKeep;
    std::uint64_t pages = 1; // PFNs the decision covers, starting at the page itself
  };

  /// Reads offsets and numbers from VMCOREINFO. Never fails: rules whose keys are missing are
  /// switched off and listed in missing().
  static PageRules create(const formats::VmcoreInfo& vi, int dump_level);

  /// makedumpfile runs the struct page scan only for some levels (or when PG_hwpoison exists).
  bool scan_needed() const { return scan_; }
  /// The struct page fields every rule needs are known.
  bool usable() const { return usable_; }
  /// Human-readable list of what is kept because VMCOREINFO lacks a key (empty = nothing).
  const std::vector<std::string>& missing() const { return missing_; }
  std::uint64_t struct_page_size() const { return page_size_; }

  /// Classifies the page at `pfn` from its struct page bytes and those of the next PFN
  /// (`next` may be empty when it was not read; then the page counts as order 0).
  Decision classify(std::uint64_t pfn, std::span<const std::byte> page,
                    std::span<const std::byte> next) const;

private:
  int level_ = 0;
  bool scan_ = false;
  bool usable_ = false;
  std::vector<std::string> missing_;
  std::uint32_t version_ = 0;
  std::uint64_t page_size_ = 0;
  std::uint64_t off_flags_ = 0, off_mapping_ = 0;
  std::optional<std::uint64_t> off_mapcount_, off_private_, off_compound_head_;
  // Where the compound order / destructor byte is, relative to the head's struct page.
  std::optional<std::uint64_t> order_pos_, dtor_pos_;
  unsigned order_width_ = 1, dtor_width_ = 1;
  bool order_in_flags1_ = false; // 6.6+: low byte of page[1].flags (folio _flags_1)
  std::optional<std::int64_t> pg_lru_, pg_private_, pg_swapcache_, pg_swapbacked_, pg_slab_,
      pg_hwpoison_, pg_hugetlb_, pg_buddy_;
  std::uint64_t head_mask_ = 0;
  std::optional<std::int64_t> buddy_value_, offline_value_, hugetlb_value_, slab_value_,
      unaccepted_value_, hugetlb_dtor_;
  std::optional<std::uint64_t> free_huge_page_;
  std::uint64_t free_area_len_ = 0; // LENGTH(zone.free_area) or 0
  bool cache_rules_ = false, buddy_rule_ = false;
};

struct PageFilterResult {
  formats::PfnBitmap dumpable;        // the 2nd bitmap before zero-page handling
  PageClassCounts excluded;           // per class
  bool scanned = false;               // the struct page scan ran (possibly in part)
  std::uint64_t pages_unfiltered = 0; // pages kept because their struct page was unreadable
  std::string fallback; // why some pages were kept without a decision; empty if none were
};

/// What a filtered dump records about its filtering, so that `info` can show it later: an ELF
/// note named "GUESTDUMP" (type kFilterNoteType) in the kdump notes area whose descriptor is
/// "key=value\n" text. crash, makedumpfile, libkdumpfile and drgn skip notes they do not know.
inline constexpr std::string_view kFilterNoteName = "GUESTDUMP";
inline constexpr std::uint32_t kFilterNoteType = 0x47440001; // "GD" + record version 1

struct FilterRecord {
  int dump_level = 0;
  PageClassCounts excluded;
  std::uint64_t pages_unfiltered = 0;
  std::string fallback; // empty if every page was decided
  // Where the VMCOREINFO the filter used came from ("dump note", "guest memory at PA 0x…",
  // "guest agent at PA 0x…", "none"); empty in records written before the locator existed.
  std::string vmcoreinfo;
  bool operator==(const FilterRecord&) const = default;
};

std::string format_filter_record(const FilterRecord& rec);
/// Parses a record; unknown keys are ignored, nullopt if a known key is malformed or the
/// dump level is missing.
std::optional<FilterRecord> parse_filter_record(std::string_view text);

/// Appends the record as a "GUESTDUMP" note to `notes`, replacing any earlier one (a re-filtered
/// guestdump output).
Result<void> put_filter_note(std::vector<std::byte>& notes, const FilterRecord& rec);
/// The record of a note blob, if it has one.
std::optional<FilterRecord> find_filter_note(std::span<const std::byte> notes);

/// The dumpable-PFN bitmap of `src` at `dump_level` (0-31): the pages the source holds, minus
/// the classes the level excludes. Errors only for cancellation; a broken or lying guest model
/// makes it keep the pages concerned and say why in `fallback`. The struct page scan runs on
/// `threads` threads (0: one per CPU), each over a contiguous run of sections; the result does
/// not depend on the thread count, except that on inconsistent guest data (a compound page
/// reaching into pages another thread classified differently) a page may be counted under a
/// different class. `progress` gets (sections scanned, sections to scan), serialized.
Result<PageFilterResult>
filter_pages(const formats::DumpSource& src, int dump_level,
             std::function<void(std::uint64_t, std::uint64_t)> progress = {}, unsigned threads = 0);

} // namespace guestdump::kernel
