#include "guestdump/kernel/kernel_memory.h"

#include <cstdio>
#include <cstring>

#include "guestdump/kernel/limits.h"
#include "x86_paging.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

using namespace x86;
constexpr std::size_t kUtsLen = 65;

} // namespace

PhysicalMemory::PhysicalMemory(const DumpSource& src)
    : src_(src), reader_(src.make_reader()), scratch_(src.metadata().page_size) {}

Result<void> PhysicalMemory::read(std::uint64_t pa, std::span<std::byte> out) {
  const std::uint64_t ps = src_.metadata().page_size;
  std::size_t done = 0;
  while (done < out.size()) {
    std::uint64_t addr = pa + done;
    std::uint64_t pfn = addr / ps;
    if (!src_.metadata().available.test(pfn)) {
      return make_error(ErrorCode::kNotFound,
                        "physical address " + hex(addr) + " is not in the dump");
    }
    GUESTDUMP_TRY(const std::byte* page, reader_->read(pfn, scratch_));
    std::size_t off = static_cast<std::size_t>(addr % ps);
    std::size_t n = std::min<std::size_t>(out.size() - done, ps - off);
    std::memcpy(out.data() + done, page + off, n);
    done += n;
  }
  return {};
}

Result<std::uint64_t> PhysicalMemory::read_u64(std::uint64_t pa) {
  std::uint64_t v = 0;
  GUESTDUMP_CHECK(read(pa, std::as_writable_bytes(std::span(&v, 1))));
  return v;
}

Result<X86_64Translator> X86_64Translator::from_vmcoreinfo(const VmcoreInfo& vi) {
  auto pgd = vi.symbol("init_top_pgt");
  if (!pgd) pgd = vi.symbol("swapper_pg_dir");
  if (!pgd) pgd = vi.symbol("init_level4_pgt");
  if (!pgd) {
    return make_error(ErrorCode::kNotFound, "VMCOREINFO has no SYMBOL(init_top_pgt)");
  }
  if (*pgd < kStartKernelMap) {
    return make_error(ErrorCode::kBadData,
                      "VMCOREINFO: init_top_pgt " + hex(*pgd) + " is not a kernel-image address");
  }
  X86_64Translator t;
  t.sme_mask_ = static_cast<std::uint64_t>(vi.number("sme_mask").value_or(0));
  auto phys_base = static_cast<std::uint64_t>(vi.number("phys_base").value_or(0));
  t.root_ = (*pgd - kStartKernelMap + phys_base) & ~t.sme_mask_;
  t.five_level_ = vi.number("pgtable_l5_enabled").value_or(0) != 0;
  return t;
}

Result<std::uint64_t> X86_64Translator::translate(PhysicalMemory& mem, std::uint64_t va) const {
  // Shifts of the levels from the top: PML5 (48), PGD/PML4 (39), PUD (30), PMD (21), PTE (12).
  const int top = five_level_ ? 48 : 39;
  const std::uint64_t mask = kEntryAddrMask & ~sme_mask_;
  const formats::MachineFrameMap* m2p = mem.machine_frames();
  // Xen PV: every frame an entry names is a machine frame (x86_paging.h).
  auto follow = [&](std::uint64_t ma) -> Result<std::uint64_t> {
    if (auto pa = entry_address(m2p, ma)) return *pa;
    return make_error(ErrorCode::kNotFound, "translate " + hex(va) + ": machine frame " +
                                                hex(ma >> 12) + " is not the guest's");
  };
  std::uint64_t table = root_;
  for (int shift = top; shift >= 12; shift -= 9) {
    std::uint64_t idx = (va >> shift) & 0x1ff;
    auto entry = mem.read_u64(table + idx * 8);
    if (!entry) {
      return std::move(entry).error().context("translate " + hex(va));
    }
    if ((*entry & kPresent) == 0) {
      return make_error(ErrorCode::kNotFound, "translate " + hex(va) + ": not mapped (level " +
                                                  std::to_string((shift - 12) / 9 + 1) + ")");
    }
    std::uint64_t next = *entry & mask;
    if ((shift == 30 || shift == 21) && (*entry & kPse) != 0) {
      // 1 GiB page at PUD, 2 MiB page at PMD.
      std::uint64_t page_mask = (std::uint64_t{1} << shift) - 1;
      return follow((next & ~page_mask) | (va & page_mask));
    }
    if (shift == 12) return follow(next | (va & 0xfff));
    GUESTDUMP_TRY(table, follow(next));
  }
  return make_error(ErrorCode::kBadData, "translate " + hex(va) + ": walk did not end");
}

Result<void> X86_64Translator::read(PhysicalMemory& mem, std::uint64_t va,
                                    std::span<std::byte> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    std::uint64_t addr = va + done;
    GUESTDUMP_TRY(std::uint64_t pa, translate(mem, addr));
    std::size_t n = std::min<std::size_t>(out.size() - done, 4096 - (addr & 0xfff));
    GUESTDUMP_CHECK(mem.read(pa, out.subspan(done, n)));
    done += n;
  }
  return {};
}

Result<std::array<std::string, 6>> read_guest_utsname(const DumpSource& src) {
  const auto& meta = src.metadata();
  if (!meta.vmcoreinfo) return make_error(ErrorCode::kNotFound, "no VMCOREINFO");
  if (meta.arch != KdumpArch::kX86_64) {
    return make_error(ErrorCode::kUnsupported, "utsname lookup is implemented for x86_64 only");
  }
  const VmcoreInfo& vi = *meta.vmcoreinfo;
  auto uts_ns = vi.symbol("init_uts_ns");
  if (!uts_ns) return make_error(ErrorCode::kNotFound, "VMCOREINFO has no SYMBOL(init_uts_ns)");
  // uts_namespace.name follows a struct kref; makedumpfile falls back to sizeof(int) when the
  // offset is not exported (kernels before 5.x export it).
  std::vector<std::string> rejected;
  const std::uint64_t off = vi.offset_in("uts_namespace.name", 6 * kUtsLen, kMaxStructSize,
                                         "the largest kernel structure", rejected)
                                .value_or(4);
  if (!rejected.empty()) return make_error(ErrorCode::kBadData, "VMCOREINFO: " + rejected.front());
  GUESTDUMP_TRY(auto xlat, X86_64Translator::from_vmcoreinfo(vi));
  PhysicalMemory mem(src);
  std::array<std::byte, 6 * kUtsLen> raw{};
  GUESTDUMP_CHECK(xlat.read(mem, *uts_ns + off, raw));
  std::array<std::string, 6> uts;
  for (std::size_t i = 0; i < 6; ++i) {
    const char* p = reinterpret_cast<const char*>(raw.data() + i * kUtsLen);
    std::size_t len = 0;
    while (len < kUtsLen - 1 && p[len] != '\0') ++len;
    uts[i].assign(p, len);
  }
  if (auto rel = vi.osrelease(); rel && uts[2] != *rel) {
    return make_error(ErrorCode::kBadData, "utsname release '" + uts[2] +
                                               "' read from guest memory does not match "
                                               "VMCOREINFO OSRELEASE '" +
                                               std::string(*rel) + "'");
  }
  return uts;
}

} // namespace guestdump::kernel
