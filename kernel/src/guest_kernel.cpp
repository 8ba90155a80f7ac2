#include "guestdump/kernel/guest_kernel.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string>

#include "guestdump/common/io.h"
#include "guestdump/kernel/limits.h"
#include "x86_paging.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

using namespace x86;
// Lowest kernel-half address with 4- and 5-level paging (makedumpfile's is_kvaddr test).
constexpr std::uint64_t kKernelHalf4 = 0xffff800000000000ULL;
constexpr std::uint64_t kKernelHalf5 = 0xff00000000000000ULL;
constexpr std::uint64_t kSectionPresent = 1;        // SECTION_MARKED_PRESENT
constexpr std::uint64_t kSectionMapMask = ~0x1fULL; // ~(SECTION_MAP_LAST_BIT (1<<5) - 1)
constexpr std::size_t kCacheSlots = 32;

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

} // namespace

// Physical page reads through one PageReader, with a small direct-mapped cache so that page-table
// walks and mem_section reads do not re-read the same pages from the file.
class GuestKernel::PhysCache {
public:
  PhysCache(const DumpSource& src, bool cached)
      : src_(src), reader_(src.make_reader()), scratch_(src.metadata().page_size), cached_(cached) {
    if (cached_) {
      pages_.resize(kCacheSlots * src.metadata().page_size);
      tags_.fill(~std::uint64_t{0});
    }
  }

  Result<const std::byte*> page(std::uint64_t pfn) {
    const auto& meta = src_.metadata();
    if (!meta.available.test(pfn)) {
      return make_error(ErrorCode::kNotFound,
                        "physical address " + hex(pfn * meta.page_size) + " is not in the dump");
    }
    if (!cached_) return reader_->read(pfn, scratch_);
    std::size_t slot = static_cast<std::size_t>(pfn % kCacheSlots);
    std::byte* dst = pages_.data() + slot * meta.page_size;
    if (tags_[slot] != pfn) {
      GUESTDUMP_TRY(const std::byte* p, reader_->read(pfn, scratch_));
      std::memcpy(dst, p, meta.page_size);
      tags_[slot] = pfn;
    }
    return dst;
  }

  Result<void> read(std::uint64_t pa, std::span<std::byte> out) {
    const std::uint64_t ps = src_.metadata().page_size;
    std::size_t done = 0;
    while (done < out.size()) {
      std::uint64_t addr = pa + done;
      GUESTDUMP_TRY(const std::byte* p, page(addr / ps));
      std::size_t off = static_cast<std::size_t>(addr % ps);
      std::size_t n = std::min<std::size_t>(out.size() - done, ps - off);
      std::memcpy(out.data() + done, p + off, n);
      done += n;
    }
    return {};
  }

private:
  const DumpSource& src_;
  std::unique_ptr<PageReader> reader_;
  std::vector<std::byte> scratch_;
  bool cached_;
  std::vector<std::byte> pages_;
  std::array<std::uint64_t, kCacheSlots> tags_{};
};

std::uint32_t parse_kernel_version(std::string_view release) {
  std::uint32_t parts[3] = {0, 0, 0};
  std::size_t i = 0;
  for (int k = 0; k < 3; ++k) {
    std::size_t start = i;
    std::uint32_t v = 0;
    while (i < release.size() && release[i] >= '0' && release[i] <= '9' && i - start < 6) {
      v = v * 10 + static_cast<std::uint32_t>(release[i] - '0');
      ++i;
    }
    if (i == start) return k >= 2 ? GuestKernel::version(parts[0], parts[1], 0) : 0;
    parts[k] = v;
    if (k < 2) {
      if (i >= release.size() || release[i] != '.') {
        return k == 1 ? GuestKernel::version(parts[0], parts[1], 0) : 0;
      }
      ++i;
    }
  }
  if (parts[0] > 255 || parts[1] > 255) return 0;
  return GuestKernel::version(parts[0], parts[1], parts[2]);
}

GuestKernel::GuestKernel(const DumpSource& src, const VmcoreInfo& vi)
    : src_(src), vi_(vi), scattered_(std::make_unique<PhysCache>(src, true)),
      bulk_(std::make_unique<PhysCache>(src, false)) {}

GuestKernel::~GuestKernel() = default;

std::unique_ptr<GuestKernel> GuestKernel::clone() const {
  std::unique_ptr<GuestKernel> k(new GuestKernel(src_, vi_));
  static_cast<detail::GuestKernelModel&>(*k) = *this;
  return k;
}

Result<std::unique_ptr<GuestKernel>> GuestKernel::open(const DumpSource& src) {
  const DumpMetadata& meta = src.metadata();
  if (!meta.vmcoreinfo) return make_error(ErrorCode::kNotFound, "the dump has no VMCOREINFO");
  if (meta.arch != KdumpArch::kX86_64) {
    return make_error(ErrorCode::kUnsupported, "the kernel model supports x86_64 guests only");
  }
  std::unique_ptr<GuestKernel> k(new GuestKernel(src, *meta.vmcoreinfo));
  k->page_size_ = meta.page_size;
  if (auto ps = k->vi_.page_size(); ps && *ps != meta.page_size) {
    return make_error(ErrorCode::kBadData, "VMCOREINFO PAGESIZE=" + std::to_string(*ps) +
                                               " differs from the dump's page size " +
                                               std::to_string(meta.page_size));
  }
  if (auto rel = k->vi_.osrelease()) k->kernel_version_ = parse_kernel_version(*rel);
  k->kaslr_offset_ = k->vi_.kernel_offset().value_or(0);
  GUESTDUMP_CHECK(k->init_paging());
  GUESTDUMP_CHECK(k->init_mem_sections());
  return k;
}

Result<void> GuestKernel::init_paging() {
  auto pgd = vi_.symbol("init_top_pgt");
  if (!pgd) pgd = vi_.symbol("swapper_pg_dir");
  if (!pgd) pgd = vi_.symbol("init_level4_pgt");
  if (!pgd) return make_error(ErrorCode::kNotFound, "VMCOREINFO has no SYMBOL(init_top_pgt)");
  if (*pgd < kStartKernelMap) {
    return make_error(ErrorCode::kBadData,
                      "VMCOREINFO: init_top_pgt " + hex(*pgd) + " is not a kernel-image address");
  }
  sme_mask_ = static_cast<std::uint64_t>(vi_.number("sme_mask").value_or(0));
  phys_base_ = vi_.number("phys_base").value_or(0);
  root_ = (*pgd - kStartKernelMap + static_cast<std::uint64_t>(phys_base_)) & ~sme_mask_;
  five_level_ = vi_.number("pgtable_l5_enabled").value_or(0) != 0;
  if (root_ % page_size_ != 0 || !src_.metadata().available.test(root_ / page_size_)) {
    return make_error(ErrorCode::kBadData, "page-table root " + hex(root_) +
                                               " (init_top_pgt - __START_KERNEL_map + "
                                               "phys_base) is not a page of the dump");
  }
  // The kernel image maps itself: init_top_pgt must translate to its own physical address.
  auto self = translate(*pgd);
  if (!self) {
    return std::move(self).error().context("page tables do not map init_top_pgt");
  }
  if (self->pa != root_) {
    return make_error(ErrorCode::kBadData, "page tables map init_top_pgt " + hex(*pgd) + " to " +
                                               hex(self->pa) + ", not to the root " + hex(root_));
  }
  return {};
}

Result<KernelMapping> GuestKernel::translate(std::uint64_t va) {
  if (tlb_.size != 0 && va - tlb_.va_base < tlb_.size) {
    KernelMapping m = tlb_;
    m.pa = tlb_.pa_base + (va - tlb_.va_base);
    return m;
  }
  const int top = five_level_ ? 48 : 39;
  const std::uint64_t mask = kEntryAddrMask & ~sme_mask_;
  const formats::MachineFrameMap* m2p = src_.metadata().machine_frames.get();
  auto foreign = [&](std::uint64_t ma) {
    return make_error(ErrorCode::kNotFound, "translate " + hex(va) + ": machine frame " +
                                                hex(ma >> 12) + " is not the guest's");
  };
  std::uint64_t table = root_;
  for (int shift = top; shift >= 12; shift -= 9) {
    std::uint64_t entry = 0;
    auto r = scattered_->read(table + ((va >> shift) & 0x1ff) * 8,
                              std::as_writable_bytes(std::span(&entry, 1)));
    if (!r) return std::move(r).error().context("translate " + hex(va));
    if ((entry & kPresent) == 0) {
      return make_error(ErrorCode::kNotFound, "translate " + hex(va) + ": not mapped (level " +
                                                  std::to_string((shift - 12) / 9 + 1) + ")");
    }
    std::uint64_t next = entry & mask;
    bool leaf = shift == 12 || ((shift == 30 || shift == 21) && (entry & kPse) != 0);
    if (leaf) {
      std::uint64_t size = std::uint64_t{1} << shift;
      KernelMapping m;
      if (m2p != nullptr) {
        // A Xen PV large page is contiguous in machine frames only: map 4 KiB at a time.
        const std::uint64_t ma = (next & ~(size - 1)) | (va & (size - 1) & ~0xfffULL);
        auto pa = entry_address(m2p, ma);
        if (!pa) return foreign(ma);
        size = 4096;
        m.pa_base = *pa;
      } else {
        m.pa_base = next & ~(size - 1);
      }
      m.va_base = va & ~(size - 1);
      m.size = size;
      m.pa = m.pa_base + (va - m.va_base);
      tlb_ = m;
      return m;
    }
    auto pa = entry_address(m2p, next);
    if (!pa) return foreign(next);
    table = *pa;
  }
  return make_error(ErrorCode::kBadData, "translate " + hex(va) + ": walk did not end");
}

Result<void> GuestKernel::read_with(PhysCache& mem, std::uint64_t va, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    std::uint64_t addr = va + done;
    GUESTDUMP_TRY(KernelMapping m, translate(addr));
    // Within one leaf mapping the physical range is contiguous.
    std::uint64_t left_in_leaf = m.size - (addr - m.va_base);
    std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done, left_in_leaf));
    GUESTDUMP_CHECK(mem.read(m.pa, out.subspan(done, n)));
    done += n;
  }
  return {};
}

Result<void> GuestKernel::read(std::uint64_t va, std::span<std::byte> out) {
  return read_with(*scattered_, va, out);
}

Result<void> GuestKernel::read_physical(std::uint64_t pa, std::span<std::byte> out) {
  return scattered_->read(pa, out);
}

Result<void> GuestKernel::read_struct_pages(std::uint64_t pfn, std::uint64_t count,
                                            std::span<std::byte> out) {
  auto va = struct_page_address(pfn);
  if (!va) {
    return make_error(ErrorCode::kNotFound,
                      "PFN " + std::to_string(pfn) + ": its memory section has no mem_map");
  }
  if (count == 0) return {};
  if ((pfn + count - 1) / pages_per_section_ != pfn / pages_per_section_ ||
      out.size() < count * struct_page_size_) {
    return make_error(ErrorCode::kInvalidArgument, "struct page batch crosses a section");
  }
  auto r = read_with(*bulk_, *va, out.first(count * struct_page_size_));
  if (!r) {
    return std::move(r).error().context("struct pages of PFN " + std::to_string(pfn) + "-" +
                                        std::to_string(pfn + count - 1) + " at " + hex(*va));
  }
  return {};
}

std::optional<std::uint64_t> GuestKernel::section_mem_map(std::uint64_t section) const {
  if (section >= mem_maps_.size() || mem_maps_[section] == 0) return std::nullopt;
  return mem_maps_[section];
}

std::optional<std::uint64_t> GuestKernel::struct_page_address(std::uint64_t pfn) const {
  if (pages_per_section_ == 0) return std::nullopt;
  auto base = section_mem_map(pfn / pages_per_section_);
  if (!base) return std::nullopt;
  return *base + (pfn % pages_per_section_) * struct_page_size_;
}

Result<void> GuestKernel::init_mem_sections() {
  auto sym = vi_.symbol("mem_section");
  auto ms_size = vi_.size("mem_section");
  auto map_off = vi_.offset("mem_section.section_mem_map");
  auto page_size = vi_.size("page");
  if (!sym) return make_error(ErrorCode::kNotFound, "VMCOREINFO has no SYMBOL(mem_section)");
  if (!ms_size) return make_error(ErrorCode::kNotFound, "VMCOREINFO has no SIZE(mem_section)");
  if (!map_off) {
    return make_error(ErrorCode::kNotFound,
                      "VMCOREINFO has no OFFSET(mem_section.section_mem_map)");
  }
  if (!page_size) return make_error(ErrorCode::kNotFound, "VMCOREINFO has no SIZE(page)");
  // Bounded once here: load_sections() and struct_page_address() compute with these.
  std::vector<std::string> rejected;
  if (!vi_.size_in("mem_section", 8, page_size_, rejected) ||
      !vi_.offset_in("mem_section.section_mem_map", 8, *ms_size, "SIZE(mem_section)", rejected) ||
      !vi_.size_in("page", kMinStructPageSize, kMaxStructPageSize, rejected)) {
    return make_error(ErrorCode::kBadData, "VMCOREINFO: " + rejected.front());
  }
  struct_page_size_ = *page_size;
  const int page_shift = std::countr_zero(page_size_);
  const std::int64_t ssb = vi_.number("SECTION_SIZE_BITS").value_or(27);
  const std::int64_t mpb = vi_.number("MAX_PHYSMEM_BITS").value_or(five_level_ ? 52 : 46);
  if (ssb < page_shift || ssb > 40 || mpb < ssb || mpb > 63) {
    return make_error(ErrorCode::kBadData, "VMCOREINFO: SECTION_SIZE_BITS=" + std::to_string(ssb) +
                                               " / MAX_PHYSMEM_BITS=" + std::to_string(mpb) +
                                               " are implausible");
  }
  pages_per_section_ = std::uint64_t{1} << (ssb - page_shift);
  const std::uint64_t nr_mem_sections = std::uint64_t{1} << (mpb - ssb);
  const std::uint64_t num_section = div_up(src_.metadata().max_pfn, pages_per_section_);
  if (num_section > nr_mem_sections) {
    return make_error(ErrorCode::kBadData, "the dump's RAM ends beyond MAX_PHYSMEM_BITS");
  }
  const std::uint64_t spr_extreme = page_size_ / *ms_size;
  auto len = vi_.length("mem_section");
  bool extreme = !len || *len == div_up(nr_mem_sections, spr_extreme);
  std::uint64_t spr = extreme ? spr_extreme : 1;
  mem_maps_.assign(num_section, 0);

  // Since 4.15 SYMBOL(mem_section) is the root array itself; with an older kernel (or vmlinux
  // symbols) it is a pointer to it. Try the first reading, then the second, like makedumpfile.
  GUESTDUMP_TRY(bool ok, load_sections(*sym, extreme, spr));
  if (!ok && extreme) {
    std::uint64_t ptr = 0;
    if (read(*sym, std::as_writable_bytes(std::span(&ptr, 1)))) {
      GUESTDUMP_TRY(ok, load_sections(ptr, extreme, spr));
    }
  }
  if (!ok) {
    return make_error(ErrorCode::kBadData, "mem_section at " + hex(*sym) +
                                               " holds no valid memory section for the dump's "
                                               "RAM");
  }
  // The root array is allocated in the direct map, so its VA - PA is page_offset_base.
  if (auto m = translate(*sym); m && *sym >= m->pa) page_offset_base_ = *sym - m->pa;
  // SPARSEMEM_VMEMMAP: every section decodes to the same linear array.
  std::optional<std::uint64_t> base;
  bool linear = true;
  for (std::uint64_t s = 0; s < mem_maps_.size(); ++s) {
    if (mem_maps_[s] == 0) continue;
    std::uint64_t b = mem_maps_[s] - s * pages_per_section_ * struct_page_size_;
    if (!base) base = b;
    if (*base != b) linear = false;
  }
  if (base && linear) vmemmap_base_ = base;
  return {};
}

// Fills mem_maps_ from the root array at `root_addr`; false if the reading is not valid (a
// present section decodes outside the kernel half, or no section is present).
Result<bool> GuestKernel::load_sections(std::uint64_t root_addr, bool extreme, std::uint64_t spr) {
  const std::uint64_t ms_size = *vi_.size("mem_section");
  const std::uint64_t map_off = *vi_.offset("mem_section.section_mem_map");
  const std::uint64_t kv_min = five_level_ ? kKernelHalf5 : kKernelHalf4;
  const std::uint64_t n = mem_maps_.size();
  std::vector<std::uint64_t> roots;
  if (extreme) {
    roots.assign(div_up(n, spr), 0);
    if (!read(root_addr, std::as_writable_bytes(std::span(roots)))) return false;
  }
  std::vector<std::uint64_t> maps(n, 0);
  bool any = false;
  for (std::uint64_t nr = 0; nr < n; ++nr) {
    GUESTDUMP_CHECK(check_cancel());
    std::uint64_t addr = 0;
    if (extreme) {
      std::uint64_t root = roots[nr / spr];
      if (root == 0) continue;
      addr = root + (nr % spr) * ms_size;
    } else {
      addr = root_addr + nr * ms_size;
    }
    if (addr < kv_min) continue; // not a kernel address: no mem_map
    std::uint64_t map = 0;
    if (!read(addr + map_off, std::as_writable_bytes(std::span(&map, 1)))) continue;
    if ((map & kSectionPresent) == 0) continue;
    std::uint64_t decoded = (map & kSectionMapMask) + nr * pages_per_section_ * struct_page_size_;
    if (decoded < kv_min) return false;
    maps[nr] = decoded;
    any = true;
  }
  if (any) mem_maps_ = std::move(maps);
  return any;
}

} // namespace guestdump::kernel
