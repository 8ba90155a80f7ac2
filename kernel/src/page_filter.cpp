#include "guestdump/kernel/page_filter.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "guestdump/common/checked.h"
#include "guestdump/common/io.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/guest_kernel.h"
#include "guestdump/kernel/limits.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

constexpr int kCache = 2;
constexpr int kCachePrivate = 4;
constexpr int kUser = 8;
constexpr int kFree = 16;
// makedumpfile reads struct pages 512 at a time (PGMM_CACHED) and never looks at the next
// struct page of the last one in such a block; compound heads are aligned, so this only matters
// for corrupt data, but we follow it to decide identically.
constexpr std::uint64_t kMdfBlock = 512;
constexpr std::uint64_t kBatch = 4096; // struct pages per read (256 KiB for 64-byte pages)

std::uint64_t load(std::span<const std::byte> p, std::uint64_t off, unsigned width) {
  std::uint64_t v = 0;
  // The rules bounded every offset by SIZE(page) when they were built; this stays overflow-safe
  // on its own all the same (an offset near 2^64 must not wrap to before the struct page).
  if (!fits(off, width, p.size())) return 0;
  std::memcpy(&v, p.data() + off, width); // little-endian guest and host
  return v;
}

// makedumpfile's test_bit(): `1 << (nr & 31)` as an int, widened to unsigned long, so bit 31
// sign-extends over the upper half. Only the low word of the flags is ever tested.
bool test_bit(std::int64_t nr, std::uint64_t flags) {
  unsigned b = static_cast<unsigned>(nr) & 31;
  std::uint64_t mask = b == 31 ? 0xffffffff80000000ULL : (std::uint64_t{1} << b);
  return (flags & mask) != 0;
}

bool full_bit(std::optional<std::int64_t> nr, std::uint64_t flags) {
  return nr && *nr >= 0 && *nr < 64 && ((flags >> *nr) & 1) != 0;
}

// A page type stored in _mapcount (page_type). Up to 6.11 a type is the value with one bit
// cleared (compare exactly); from 6.12 it is PGTY_x << 24 with the low 24 bits free for data, so
// only the top byte is compared.
bool page_type_is(std::uint32_t mapcount, std::int64_t value) {
  auto v = static_cast<std::uint32_t>(value);
  if (v != 0 && (v & 0xffffff) == 0) return (mapcount >> 24) == (v >> 24);
  return mapcount == v;
}

} // namespace

PageRules PageRules::create(const VmcoreInfo& vi, int dump_level) {
  PageRules r;
  r.level_ = dump_level;
  if (auto rel = vi.osrelease()) r.version_ = parse_kernel_version(*rel);
  auto num = [&](const char* n) { return vi.number(n); };
  r.pg_lru_ = num("PG_lru");
  r.pg_private_ = num("PG_private");
  r.pg_swapcache_ = num("PG_swapcache");
  r.pg_swapbacked_ = num("PG_swapbacked");
  r.pg_slab_ = num("PG_slab");
  r.pg_hwpoison_ = num("PG_hwpoison");
  r.pg_hugetlb_ = num("PG_hugetlb");
  r.pg_buddy_ = num("PG_buddy");
  r.head_mask_ = static_cast<std::uint64_t>(num("PG_head_mask").value_or(0));
  r.buddy_value_ = num("PAGE_BUDDY_MAPCOUNT_VALUE");
  r.offline_value_ = num("PAGE_OFFLINE_MAPCOUNT_VALUE");
  r.hugetlb_value_ = num("PAGE_HUGETLB_MAPCOUNT_VALUE");
  r.slab_value_ = num("PAGE_SLAB_MAPCOUNT_VALUE");
  r.unaccepted_value_ = num("PAGE_UNACCEPTED_MAPCOUNT_VALUE");
  r.hugetlb_dtor_ = num("HUGETLB_PAGE_DTOR");
  r.free_huge_page_ = vi.symbol("free_huge_page");
  // MAX_ORDER is at most 64 (orders are shifts of a 64-bit PFN count).
  std::vector<std::string> bad_len;
  r.free_area_len_ = vi.length_in("zone.free_area", 1, 64, bad_len).value_or(0);
  for (const auto& why : bad_len) r.missing_.push_back("ignored " + why);

  // Every struct page offset is checked here, once, against SIZE(page) (itself bounded), so
  // classify() can load fields without a check per page. A bad key is ignored with a reason
  // that names it and its value; only the rules that need it are switched off.
  std::vector<std::string> rejected;
  auto size = vi.size_in("page", kMinStructPageSize, kMaxStructPageSize, rejected);
  auto field = [&](std::string_view member, std::uint64_t width) {
    return size ? vi.offset_in(member, width, *size, "SIZE(page)", rejected) : vi.offset(member);
  };
  auto flags = field("page.flags", 8);
  auto refcount = field("page._refcount", 4);
  if (!refcount) refcount = field("page._count", 4);
  auto mapping = field("page.mapping", 8);
  const std::size_t core_rejected = rejected.size();
  r.off_mapcount_ = field("page._mapcount", 4);
  r.off_private_ = field("page.private", 8);
  r.off_compound_head_ = field("page.compound_head", 8);

  // makedumpfile's scan condition (create_2nd_bitmap).
  bool buddy_possible = r.off_private_ && (r.pg_buddy_ || (r.buddy_value_ && r.off_mapcount_));
  r.scan_ = (dump_level & (kCache | kCachePrivate | kUser)) != 0 || r.pg_hwpoison_ ||
            ((dump_level & kFree) != 0 && buddy_possible);
  if ((dump_level & kFree) != 0 && !buddy_possible) {
    r.missing_.push_back("free pages kept: VMCOREINFO lacks OFFSET(page.private) or "
                         "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)/OFFSET(page._mapcount) (the free-list "
                         "walk is not implemented)");
  }
  if (core_rejected != 0) {
    std::string why = "no page filtered: VMCOREINFO's struct page layout is implausible (";
    for (std::size_t i = 0; i < core_rejected; ++i) why += (i != 0 ? "; " : "") + rejected[i];
    r.missing_.insert(r.missing_.begin(), why + ")");
    return r;
  }
  if (!size || !flags || !refcount || !mapping) {
    r.missing_.insert(r.missing_.begin(),
                      "no page filtered: VMCOREINFO lacks SIZE(page), OFFSET(page.flags), "
                      "OFFSET(page._refcount) or OFFSET(page.mapping)");
    return r;
  }
  for (std::size_t i = core_rejected; i < rejected.size(); ++i) {
    r.missing_.push_back("ignored " + rejected[i] + " (the rules that need it are off)");
  }
  rejected.clear();
  r.page_size_ = *size;
  r.off_flags_ = *flags;
  r.off_mapping_ = *mapping;
  r.usable_ = true;
  r.buddy_rule_ = buddy_possible;

  if ((dump_level & (kCache | kCachePrivate)) != 0) {
    r.cache_rules_ = r.pg_lru_ && r.pg_private_ && r.pg_swapcache_;
    if (!r.cache_rules_) {
      r.missing_.push_back("page cache kept: VMCOREINFO lacks NUMBER(PG_lru), NUMBER(PG_private) "
                           "or NUMBER(PG_swapcache)");
    }
  }

  // Compound order and destructor, per kernel version (makedumpfile's
  // __exclude_unnecessary_pages and isHugetlb).
  const bool v416 = r.version_ >= GuestKernel::version(4, 16, 0);
  const bool v44 = r.version_ >= GuestKernel::version(4, 4, 0);
  if (r.hugetlb_value_ || r.pg_hugetlb_) {
    // 6.6+: the folio order is the low byte of page[1].flags.
    r.order_in_flags1_ = true;
  } else {
    r.order_width_ = v416 ? 1 : 2;
    r.dtor_width_ = v416 ? 1 : (v44 ? 2 : 8);
    // Positions count from the head's struct page; classify() sees it and the next one, so a
    // position must lie in page[1] (page.*) or in those two struct pages (folio.*). Pre-4.4
    // kernels keep them in page[1].lru's list_head.
    const std::uint64_t two = 2 * *size;
    auto in_next = [&](std::string_view member, unsigned width) -> std::optional<std::uint64_t> {
      auto off = vi.offset_in(member, width, *size, "SIZE(page)", rejected);
      return off ? std::optional(*size + *off) : std::nullopt;
    };
    auto in_lru = [&](std::string_view member, unsigned width) -> std::optional<std::uint64_t> {
      auto lru = vi.offset_in("page.lru", 16, *size, "SIZE(page)", rejected);
      auto m = vi.offset_in(member, width, 16, "SIZE(list_head)", rejected);
      return lru && m ? std::optional(*size + *lru + *m) : std::nullopt;
    };
    if (vi.offset("page.compound_order")) {
      r.order_pos_ = in_next("page.compound_order", r.order_width_);
    } else if (vi.offset("folio._folio_order")) {
      r.order_pos_ =
          vi.offset_in("folio._folio_order", r.order_width_, two, "2 * SIZE(page)", rejected);
    } else if (!v44) {
      r.order_pos_ = in_lru("list_head.prev", r.order_width_);
    }
    if (vi.offset("page.compound_dtor")) {
      r.dtor_pos_ = in_next("page.compound_dtor", r.dtor_width_);
    } else if (vi.offset("folio._folio_dtor")) {
      r.dtor_pos_ =
          vi.offset_in("folio._folio_dtor", r.dtor_width_, two, "2 * SIZE(page)", rejected);
    } else if (!v44) {
      r.dtor_pos_ = in_lru("list_head.next", r.dtor_width_);
    }
  }
  for (const auto& why : rejected) {
    r.missing_.push_back("ignored " + why + " (compound page order or destructor not read)");
  }
  if ((dump_level & kUser) != 0 && !r.hugetlb_value_ && !r.pg_hugetlb_ && !r.hugetlb_dtor_ &&
      !r.free_huge_page_) {
    r.missing_.push_back("hugetlbfs pages kept: VMCOREINFO has no hugetlb marker");
  }
  if (r.head_mask_ == 0 && (dump_level & (kCache | kCachePrivate | kUser)) != 0) {
    r.missing_.push_back("compound pages decided page by page: VMCOREINFO lacks "
                         "NUMBER(PG_head_mask)");
  }
  return r;
}

PageRules::Decision PageRules::classify(std::uint64_t pfn, std::span<const std::byte> page,
                                        std::span<const std::byte> next) const {
  Decision d;
  if (!usable_ || page.size() < page_size_) return d;
  const std::uint64_t flags = load(page, off_flags_, 8);
  const std::uint64_t mapping = load(page, off_mapping_, 8);
  const auto mapcount =
      off_mapcount_ ? static_cast<std::uint32_t>(load(page, *off_mapcount_, 4)) : 0U;
  const std::uint64_t priv = off_private_ ? load(page, *off_private_, 8) : 0;
  const std::uint64_t compound_head = off_compound_head_ ? load(page, *off_compound_head_, 8) : 0;

  unsigned order = 0;
  std::uint64_t dtor = 0;
  bool hugetlb = false;
  if ((flags & head_mask_) != 0 && pfn % kMdfBlock != kMdfBlock - 1 && next.size() >= page_size_) {
    if (order_in_flags1_) {
      const std::uint64_t flags1 = load(next, off_flags_, 8);
      order = static_cast<unsigned>(flags1 & 0xff);
      if (hugetlb_value_) {
        hugetlb = page_type_is(mapcount, *hugetlb_value_);
      } else {
        hugetlb = full_bit(pg_hugetlb_, flags1);
      }
    } else {
      // Both positions lie in the head's or the next struct page; read from a joined view.
      auto at = [&](std::uint64_t pos, unsigned w) -> std::uint64_t {
        if (pos + w <= page_size_) return load(page, pos, w);
        if (pos >= page_size_) return load(next, pos - page_size_, w);
        return 0;
      };
      if (order_pos_) order = static_cast<unsigned>(at(*order_pos_, order_width_));
      if (dtor_pos_) dtor = at(*dtor_pos_, dtor_width_);
      hugetlb = (hugetlb_dtor_ && static_cast<std::uint64_t>(*hugetlb_dtor_) == dtor) ||
                (free_huge_page_ && *free_huge_page_ == dtor);
    }
    if (order >= 64 || (pfn & ((std::uint64_t{1} << order) - 1)) != 0) order = 0;
  }
  d.pages = std::uint64_t{1} << order;

  const bool slab = (slab_value_ && off_mapcount_ && page_type_is(mapcount, *slab_value_)) ||
                    full_bit(pg_slab_, flags);
  const bool anon = (mapping & 1) != 0 && !(slab_value_ && slab);
  auto is_cache = [&] {
    if (test_bit(*pg_lru_, flags)) return true;
    return (!pg_swapbacked_ || test_bit(*pg_swapbacked_, flags)) && test_bit(*pg_swapcache_, flags);
  };

  if ((compound_head & 1) != 0) {
    d.cls = PageClass::kTail;
    d.pages = 1;
    return d;
  }
  if ((level_ & kFree) != 0 && buddy_rule_) {
    bool buddy = false;
    if (pg_buddy_) {
      buddy = full_bit(pg_buddy_, flags);
    } else if (buddy_value_ && off_mapcount_) {
      buddy = !slab && page_type_is(mapcount, *buddy_value_);
    }
    if (buddy) {
      const std::uint64_t max_order = free_area_len_ != 0 ? free_area_len_ : 64;
      if (priv < max_order) {
        d.cls = PageClass::kFree;
        d.pages = std::uint64_t{1} << priv;
        return d;
      }
      // An impossible order: keep the page (makedumpfile warns and keeps it too).
    }
  }
  if ((level_ & kFree) != 0 && unaccepted_value_ && off_mapcount_ && free_area_len_ != 0 &&
      free_area_len_ <= 64 && page_type_is(mapcount, *unaccepted_value_)) {
    d.cls = PageClass::kFree;
    d.pages = std::uint64_t{1} << (free_area_len_ - 1);
    return d;
  }
  if ((level_ & kCache) != 0 && cache_rules_ && is_cache() && !test_bit(*pg_private_, flags) &&
      !anon) {
    d.cls = PageClass::kCache;
    return d;
  }
  if ((level_ & kCachePrivate) != 0 && cache_rules_ && is_cache() && !anon) {
    d.cls = test_bit(*pg_private_, flags) ? PageClass::kCachePrivate : PageClass::kCache;
    return d;
  }
  if ((level_ & kUser) != 0 && (anon || hugetlb)) {
    d.cls = PageClass::kUser;
    return d;
  }
  if (pg_hwpoison_ && test_bit(*pg_hwpoison_, flags)) {
    d.cls = PageClass::kHwpoison;
    return d;
  }
  if (offline_value_ && off_mapcount_ && !slab && page_type_is(mapcount, *offline_value_)) {
    d.cls = PageClass::kOffline;
    return d;
  }
  d.pages = 1;
  return d;
}

namespace {

void add_reason(std::string& all, const std::string& why) {
  if (all.find(why) != std::string::npos) return;
  if (!all.empty()) all += "; ";
  all += why;
}

std::uint64_t* counter_for(PageClassCounts& c, PageClass cls) {
  switch (cls) {
  case PageClass::kFree:
    return &c.free;
  case PageClass::kCache:
    return &c.cache;
  case PageClass::kCachePrivate:
    return &c.cache_private;
  case PageClass::kUser:
    return &c.user;
  case PageClass::kHwpoison:
    return &c.hwpoison;
  case PageClass::kOffline:
    return &c.offline;
  default:
    return nullptr;
  }
}

// One thread's share of the struct page scan: whole sections, in PFN order.
struct ScanPart {
  std::vector<std::uint64_t> sections;
  std::uint64_t lo = 0, hi = 0; // the PFNs this part may change: [lo, hi)
  PageClassCounts excluded;
  std::uint64_t pages_unfiltered = 0;
  std::vector<std::string> reasons;
  struct Spill {
    std::uint64_t pfn, count;
    PageClass cls;
  };
  std::vector<Spill> spills; // exclusions past hi, applied after every part is done
  std::optional<Error> error;
};

struct ScanProgress {
  ScanProgress(std::function<void(std::uint64_t, std::uint64_t)> f, std::uint64_t t)
      : fn(std::move(f)), total(t) {}
  std::function<void(std::uint64_t, std::uint64_t)> fn;
  std::uint64_t total = 0;
  std::mutex mu;
  std::uint64_t done = 0;
  void section_done() {
    if (!fn) return;
    std::lock_guard lock(mu);
    fn(++done, total);
  }
};

void scan_sections(GuestKernel& kernel, const PageRules& rules, const DumpMetadata& meta,
                   PfnBitmap& dumpable, ScanPart& part, ScanProgress& progress) {
  const std::uint64_t pps = kernel.pages_per_section();
  const std::uint64_t max_pfn = meta.max_pfn;
  const std::uint64_t sp = rules.struct_page_size();
  std::vector<std::byte> buf(kBatch * sp);
  auto reason = [&](std::string why) {
    if (std::find(part.reasons.begin(), part.reasons.end(), why) == part.reasons.end()) {
      part.reasons.push_back(std::move(why));
    }
  };
  for (std::uint64_t sec : part.sections) {
    const std::uint64_t sec_start = sec * pps;
    const std::uint64_t sec_end = std::min(sec_start + pps, max_pfn);
    std::uint64_t batch_start = 0, batch_end = 0; // struct pages [start, end) in buf
    std::array<bool, kBatch / kMdfBlock> bad{};   // 512-page blocks that could not be read
    for (std::uint64_t pfn = sec_start; pfn < sec_end;) {
      if (!meta.ram.test(pfn)) {
        ++pfn;
        continue;
      }
      if (pfn < batch_start || pfn >= batch_end) {
        if (auto c = check_cancel(); !c) {
          part.error = std::move(c).error();
          return;
        }
        batch_start = pfn - pfn % kMdfBlock;
        batch_end = std::min(batch_start + kBatch, sec_end);
        bad.fill(false);
        if (!kernel.read_struct_pages(batch_start, batch_end - batch_start, buf)) {
          // Retry block by block so that a bad page keeps only its own block unfiltered.
          for (std::uint64_t b = batch_start; b < batch_end; b += kMdfBlock) {
            std::uint64_t n = std::min(kMdfBlock, batch_end - b);
            auto rb = kernel.read_struct_pages(
                b, n, std::span(buf).subspan((b - batch_start) * sp, n * sp));
            if (!rb) {
              reason("struct pages unreadable, their pages kept: " + rb.error().message);
              part.pages_unfiltered += dumpable.count_range(b, n);
              bad[(b - batch_start) / kMdfBlock] = true;
            }
          }
        }
      }
      if (bad[(pfn - batch_start) / kMdfBlock]) {
        pfn = std::min(pfn - pfn % kMdfBlock + kMdfBlock, sec_end);
        continue;
      }
      const std::uint64_t idx = pfn - batch_start;
      std::span<const std::byte> page(buf.data() + idx * sp, sp);
      std::span<const std::byte> next;
      if (pfn + 1 < batch_end) next = std::span<const std::byte>(buf.data() + (idx + 1) * sp, sp);
      PageRules::Decision d = rules.classify(pfn, page, next);
      std::uint64_t* counter = counter_for(part.excluded, d.cls);
      if (counter == nullptr) {
        ++pfn;
        continue;
      }
      const std::uint64_t n = std::min(d.pages, max_pfn - pfn);
      const std::uint64_t own = std::min(n, part.hi - pfn); // the rest belongs to a later part
      if (own == 1) {
        if (dumpable.test(pfn)) {
          dumpable.clear(pfn);
          ++*counter;
        }
      } else {
        *counter += dumpable.count_range(pfn, own);
        dumpable.assign_range(pfn, own, false);
      }
      if (own < n) part.spills.push_back({pfn + own, n - own, d.cls});
      // Like makedumpfile, skip the range only within this section's mem_map.
      pfn += std::max<std::uint64_t>(d.pages, 1);
    }
    progress.section_done();
  }
}

} // namespace

Result<PageFilterResult> filter_pages(const DumpSource& src, int dump_level,
                                      std::function<void(std::uint64_t, std::uint64_t)> progress,
                                      unsigned threads) {
  const DumpMetadata& meta = src.metadata();
  PageFilterResult res;
  res.dumpable = meta.available;
  const bool filtering = (dump_level & (kCache | kCachePrivate | kUser | kFree)) != 0;
  if (!meta.vmcoreinfo) {
    if (filtering) {
      res.fallback = "no page filtered: no VMCOREINFO in the dump or in guest memory; only zero "
                     "pages excluded (dump level 1)";
    }
    return res;
  }
  PageRules rules = PageRules::create(*meta.vmcoreinfo, dump_level);
  if (filtering || rules.scan_needed()) {
    for (const auto& m : rules.missing()) add_reason(res.fallback, m);
  }
  auto kernel_r = GuestKernel::open(src);
  if (!kernel_r) {
    if (kernel_r.error().code == ErrorCode::kCancelled) return std::move(kernel_r).error();
    if (filtering || rules.scan_needed()) {
      add_reason(res.fallback, "no page filtered: guest kernel model: " + kernel_r.error().message);
    }
    return res;
  }
  GuestKernel& kernel = **kernel_r;
  const std::uint64_t pps = kernel.pages_per_section();
  const std::uint64_t max_pfn = meta.max_pfn;
  // Like makedumpfile (get_mem_map), pages past the last section with a mem_map are not part of
  // the kernel's memory (firmware ROM above RAM, mem=): they are not dumped at any level.
  std::uint64_t managed_end = 0;
  for (std::uint64_t sec = 0; sec < kernel.sections(); ++sec) {
    if (kernel.section_mem_map(sec)) managed_end = std::min((sec + 1) * pps, max_pfn);
  }
  if (managed_end != 0 && managed_end < max_pfn) {
    res.excluded.unmanaged = res.dumpable.count_range(managed_end, max_pfn - managed_end);
    res.dumpable.assign_range(managed_end, max_pfn - managed_end, false);
  }
  if (!rules.scan_needed() || !rules.usable()) return res;
  if (kernel.struct_page_size() != rules.struct_page_size()) {
    add_reason(res.fallback, "no page filtered: SIZE(page) is inconsistent");
    return res;
  }
  res.scanned = true;
  // Sections to scan (RAM and a mem_map), split into contiguous parts of about equal RAM.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> secs; // section, its RAM pages
  std::uint64_t ram_in_secs = 0;
  for (std::uint64_t sec = 0; sec < kernel.sections(); ++sec) {
    const std::uint64_t sec_start = sec * pps;
    if (sec_start >= max_pfn || !kernel.section_mem_map(sec)) continue; // no mem_map: as is
    const std::uint64_t ram = meta.ram.count_range(sec_start, std::min(pps, max_pfn - sec_start));
    if (ram == 0) continue;
    secs.emplace_back(sec, ram);
    ram_in_secs += ram;
  }
  unsigned nthreads = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  nthreads = static_cast<unsigned>(std::min<std::uint64_t>(nthreads, secs.size()));
  std::vector<ScanPart> parts;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0, k = 0; i < secs.size(); ++k) {
    ScanPart part;
    part.lo = secs[i].first * pps;
    const std::uint64_t goal = ram_in_secs * (k + 1) / nthreads; // RAM up to this part's end
    do {
      cumulative += secs[i].second;
      part.sections.push_back(secs[i++].first);
    } while (i < secs.size() && (k + 1 >= nthreads || cumulative < goal));
    parts.push_back(std::move(part));
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    parts[i].hi = i + 1 < parts.size() ? parts[i + 1].lo : max_pfn;
  }
  ScanProgress shared{std::move(progress), secs.size()};
  if (parts.size() <= 1) {
    for (auto& part : parts) scan_sections(kernel, rules, meta, res.dumpable, part, shared);
  } else {
    // Every thread walks its own copy of the model: the caches and the translation buffer
    // are per reader. The parts change disjoint words of the bitmap (sections are 512-word
    // aligned); exclusions that reach into the next part wait for the join.
    std::vector<std::unique_ptr<GuestKernel>> kernels;
    for (std::size_t i = 1; i < parts.size(); ++i) kernels.push_back(kernel.clone());
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < parts.size(); ++i) {
      workers.emplace_back(
          [&, i] { scan_sections(*kernels[i - 1], rules, meta, res.dumpable, parts[i], shared); });
    }
    scan_sections(kernel, rules, meta, res.dumpable, parts[0], shared);
    for (auto& t : workers) t.join();
  }
  for (auto& part : parts) {
    if (part.error) return std::move(*part.error);
    res.excluded += part.excluded;
    res.pages_unfiltered += part.pages_unfiltered;
    for (const auto& why : part.reasons) add_reason(res.fallback, why);
  }
  // Exclusions that crossed into a later part (a compound page over a section edge), in PFN
  // order, as a single scan would have made them; pages already excluded are not counted again.
  for (auto& part : parts) {
    for (const auto& sp : part.spills) {
      *counter_for(res.excluded, sp.cls) += res.dumpable.count_range(sp.pfn, sp.count);
      res.dumpable.assign_range(sp.pfn, sp.count, false);
    }
  }
  return res;
}

std::string format_filter_record(const FilterRecord& rec) {
  std::string out;
  auto kv = [&](std::string_view k, std::uint64_t v) {
    out += k;
    out += '=';
    out += std::to_string(v);
    out += '\n';
  };
  kv("dump_level", static_cast<std::uint64_t>(rec.dump_level));
  kv("excluded_cache", rec.excluded.cache);
  kv("excluded_cache_private", rec.excluded.cache_private);
  kv("excluded_user", rec.excluded.user);
  kv("excluded_free", rec.excluded.free);
  kv("excluded_hwpoison", rec.excluded.hwpoison);
  kv("excluded_offline", rec.excluded.offline);
  kv("excluded_unmanaged", rec.excluded.unmanaged);
  kv("pages_unfiltered", rec.pages_unfiltered);
  if (!rec.fallback.empty()) {
    std::string f = rec.fallback;
    std::replace(f.begin(), f.end(), '\n', ' ');
    out += "fallback=" + f + "\n";
  }
  if (!rec.vmcoreinfo.empty()) out += "vmcoreinfo=" + rec.vmcoreinfo + "\n";
  return out;
}

std::optional<FilterRecord> parse_filter_record(std::string_view text) {
  FilterRecord rec;
  bool have_level = false;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq), val = line.substr(eq + 1);
    if (key == "fallback") {
      rec.fallback = std::string(val);
      continue;
    }
    if (key == "vmcoreinfo") {
      rec.vmcoreinfo = std::string(val);
      continue;
    }
    std::uint64_t* dst = nullptr;
    if (key == "excluded_cache") dst = &rec.excluded.cache;
    if (key == "excluded_cache_private") dst = &rec.excluded.cache_private;
    if (key == "excluded_user") dst = &rec.excluded.user;
    if (key == "excluded_free") dst = &rec.excluded.free;
    if (key == "excluded_hwpoison") dst = &rec.excluded.hwpoison;
    if (key == "excluded_offline") dst = &rec.excluded.offline;
    if (key == "excluded_unmanaged") dst = &rec.excluded.unmanaged;
    if (key == "pages_unfiltered") dst = &rec.pages_unfiltered;
    if (key == "dump_level") {
      auto v = parse_unsigned(val, 10);
      if (!v || *v > 31) return std::nullopt;
      rec.dump_level = static_cast<int>(*v);
      have_level = true;
      continue;
    }
    if (dst == nullptr) continue;
    auto v = parse_unsigned(val, 10);
    if (!v) return std::nullopt;
    *dst = *v;
  }
  if (!have_level) return std::nullopt;
  return rec;
}

Result<void> put_filter_note(std::vector<std::byte>& notes, const FilterRecord& rec) {
  GUESTDUMP_TRY(auto parsed, parse_notes(notes));
  std::vector<std::byte> out;
  for (const auto& n : parsed) {
    if (n.name == kFilterNoteName && n.type == kFilterNoteType) continue;
    append_note(out, n.name, n.type, n.desc);
  }
  std::string text = format_filter_record(rec);
  append_note(out, kFilterNoteName, kFilterNoteType, std::as_bytes(std::span(text)));
  notes = std::move(out);
  return {};
}

std::optional<FilterRecord> find_filter_note(std::span<const std::byte> notes) {
  auto parsed = parse_notes(notes);
  if (!parsed) return std::nullopt;
  for (const auto& n : *parsed) {
    if (n.name == kFilterNoteName && n.type == kFilterNoteType) {
      return parse_filter_record(
          std::string_view(reinterpret_cast<const char*>(n.desc.data()), n.desc.size()));
    }
  }
  return std::nullopt;
}

} // namespace guestdump::kernel
