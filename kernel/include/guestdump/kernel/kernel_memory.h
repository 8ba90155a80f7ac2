#pragma once
// Guest kernel memory from a dump and VMCOREINFO alone (no vmlinux): physical reads across
// pages, x86_64 virtual-to-physical translation by walking the kernel's page tables, and the
// utsname that makedumpfile copies into the kdump header. Guest memory is untrusted: every
// walk is bounded and every read bounds-checked.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/vmcoreinfo.h"

namespace guestdump::kernel {

/// Physical reads from a dump (pages missing from the dump are kNotFound errors).
class PhysicalMemory {
public:
  explicit PhysicalMemory(const formats::DumpSource& src);
  Result<void> read(std::uint64_t pa, std::span<std::byte> out);
  Result<std::uint64_t> read_u64(std::uint64_t pa);
  /// A Xen PV guest's machine-to-pseudo-physical map (page-table walks need it), else null.
  const formats::MachineFrameMap* machine_frames() const {
    return src_.metadata().machine_frames.get();
  }

private:
  const formats::DumpSource& src_;
  std::unique_ptr<formats::PageReader> reader_;
  std::vector<std::byte> scratch_;
};

/// x86_64 kernel page-table walker configured from VMCOREINFO.
class X86_64Translator {
public:
  /// Needs SYMBOL(init_top_pgt) (or swapper_pg_dir / init_level4_pgt); NUMBER(phys_base),
  /// NUMBER(pgtable_l5_enabled) and NUMBER(sme_mask) default to 0.
  static Result<X86_64Translator> from_vmcoreinfo(const formats::VmcoreInfo& vi);
  Result<std::uint64_t> translate(PhysicalMemory& mem, std::uint64_t va) const;
  /// Reads `out.size()` bytes at kernel virtual address `va` (may cross pages).
  Result<void> read(PhysicalMemory& mem, std::uint64_t va, std::span<std::byte> out) const;
  std::uint64_t root() const { return root_; }
  bool five_level() const { return five_level_; }

private:
  std::uint64_t root_ = 0;
  std::uint64_t sme_mask_ = 0;
  bool five_level_ = false;
};

/// The guest's utsname (sysname nodename release version machine domainname) read from
/// init_uts_ns, as makedumpfile puts it into the kdump header.
Result<std::array<std::string, 6>> read_guest_utsname(const formats::DumpSource& src);

} // namespace guestdump::kernel
