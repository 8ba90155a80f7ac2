#pragma once
// GuestKernel: the guest kernel's memory layout worked out from the dump and its VMCOREINFO
// alone (no vmlinux): KASLR offset, phys_base, the page-table root (4- or 5-level), the
// direct-map base, and the SPARSEMEM(_EXTREME, _VMEMMAP) mem_section table that locates the
// `struct page` of any PFN. Struct pages are read in large batches through a translation cache.
// Guest memory is untrusted: every walk is bounded by the paging levels or the section count,
// and every address is checked against the dump before it is read.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/vmcoreinfo.h"

namespace guestdump::kernel {

/// Where a kernel virtual address is mapped: its physical address and the leaf mapping
/// (4 KiB page, 2 MiB or 1 GiB large page) that contains it.
struct KernelMapping {
  std::uint64_t pa = 0;
  std::uint64_t va_base = 0; // first VA of the leaf mapping
  std::uint64_t pa_base = 0; // its physical address
  std::uint64_t size = 0;    // 4096, 2 MiB or 1 GiB
};

namespace detail {
// What GuestKernel works out from the dump: plain values, all of which clone() copies (the
// caches and the translation buffer stay in GuestKernel, one set per reader).
struct GuestKernelModel {
  std::uint64_t page_size_ = 4096;
  std::uint64_t kaslr_offset_ = 0;
  std::int64_t phys_base_ = 0;
  std::uint64_t root_ = 0;
  std::uint64_t sme_mask_ = 0;
  bool five_level_ = false;
  std::uint64_t page_offset_base_ = 0;
  std::optional<std::uint64_t> vmemmap_base_;
  std::uint32_t kernel_version_ = 0;
  std::uint64_t struct_page_size_ = 0;
  std::uint64_t pages_per_section_ = 0;
  std::vector<std::uint64_t> mem_maps_; // decoded mem_map per section, 0 = none
};
} // namespace detail

class GuestKernel : private detail::GuestKernelModel {
public:
  /// Builds the model. Fails with kNotFound when a needed VMCOREINFO key is missing and with
  /// kBadData when the dump contradicts VMCOREINFO (page-table root outside the dump, no valid
  /// mem_section, ...). The message names the key or address.
  static Result<std::unique_ptr<GuestKernel>> open(const formats::DumpSource& src);

  GuestKernel(const GuestKernel&) = delete;
  GuestKernel& operator=(const GuestKernel&) = delete;
  ~GuestKernel();
  /// The same model with its own caches, for another thread (a GuestKernel's reads are not
  /// thread-safe). Cheap: nothing is read from the dump.
  std::unique_ptr<GuestKernel> clone() const;

  const formats::VmcoreInfo& vmcoreinfo() const { return vi_; }
  std::uint64_t kaslr_offset() const { return kaslr_offset_; }
  std::int64_t phys_base() const { return phys_base_; }
  std::uint64_t page_table_root() const { return root_; }
  bool five_level() const { return five_level_; }
  /// page_offset_base (start of the direct map), 0 if it could not be derived.
  std::uint64_t page_offset_base() const { return page_offset_base_; }
  /// vmemmap_base when every present section's mem_map lies on one linear array (VMEMMAP).
  std::optional<std::uint64_t> vmemmap_base() const { return vmemmap_base_; }
  /// Kernel version from OSRELEASE as KERNEL_VERSION(a, b, c); 0 if unparsable.
  std::uint32_t kernel_version() const { return kernel_version_; }

  std::uint64_t page_size() const { return page_size_; }
  std::uint64_t struct_page_size() const { return struct_page_size_; }
  std::uint64_t pages_per_section() const { return pages_per_section_; }
  /// Number of sections covering the dump's PFNs (makedumpfile's num_section).
  std::uint64_t sections() const { return mem_maps_.size(); }
  /// VA of the struct page of the section's first PFN, nullopt if the section has no mem_map.
  std::optional<std::uint64_t> section_mem_map(std::uint64_t section) const;
  /// VA of the struct page of `pfn`, nullopt if its section has no mem_map.
  std::optional<std::uint64_t> struct_page_address(std::uint64_t pfn) const;

  /// Walks the kernel page tables (bounded by the number of levels).
  Result<KernelMapping> translate(std::uint64_t va);
  /// Reads kernel virtual memory (may cross pages).
  Result<void> read(std::uint64_t va, std::span<std::byte> out);
  /// Reads physical memory; pages missing from the dump are kNotFound errors.
  Result<void> read_physical(std::uint64_t pa, std::span<std::byte> out);
  /// Reads the struct pages of [pfn, pfn + count), which must lie in one section, into `out`
  /// (count * struct_page_size() bytes) with sequential reads.
  Result<void> read_struct_pages(std::uint64_t pfn, std::uint64_t count, std::span<std::byte> out);

  /// Encodes a kernel version the way the kernel's KERNEL_VERSION macro does.
  static constexpr std::uint32_t version(std::uint32_t a, std::uint32_t b, std::uint32_t c) {
    return (a << 16) + (b << 8) + std::min<std::uint32_t>(c, 255);
  }

private:
  class PhysCache;
  GuestKernel(const formats::DumpSource& src, const formats::VmcoreInfo& vi);
  Result<void> init_paging();
  Result<void> init_mem_sections();
  Result<bool> load_sections(std::uint64_t root_addr, bool extreme, std::uint64_t spr);
  Result<void> read_with(PhysCache& mem, std::uint64_t va, std::span<std::byte> out);

  const formats::DumpSource& src_;
  const formats::VmcoreInfo& vi_;
  std::unique_ptr<PhysCache> scattered_; // page tables, mem_section: small cached reads
  std::unique_ptr<PhysCache> bulk_;      // struct page arrays: sequential reads
  KernelMapping tlb_{};                  // last leaf mapping (size 0 = empty)
};

/// Parses "6.1.0-56-cloud-amd64" into GuestKernel::version(6, 1, 0); 0 if unparsable.
std::uint32_t parse_kernel_version(std::string_view release);

} // namespace guestdump::kernel
