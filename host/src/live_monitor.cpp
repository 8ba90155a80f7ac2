// Guest RAM and VMCOREINFO of a QEMU process located through monitor commands alone (no QEMU
// dump); see live_monitor.h.

#include "live_monitor.h"

#include <algorithm>
#include <sstream>

#include "guestdump/common/log.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"
#include "hmp_cpu_state.h"

namespace guestdump::host::detail {

namespace {

constexpr std::uint32_t kPageSize = 4096;
constexpr std::uint64_t kMaxLocalRom = 16ull << 20; // firmware blocks copied through `xp`
constexpr std::uint64_t kXpChunk = 64ull << 10;     // bytes per `xp` (its text is ~4x that)

Result<std::vector<std::byte>> read_physical(const MonitorFn& monitor, std::uint64_t pa,
                                             std::uint64_t size) {
  std::vector<std::byte> out(size);
  for (std::uint64_t off = 0; off < size; off += kXpChunk) {
    const std::uint64_t n = std::min(kXpChunk, size - off);
    std::ostringstream cmd;
    cmd << "xp /" << n / 8 << "gx 0x" << std::hex << pa + off;
    GUESTDUMP_TRY(auto text, monitor(cmd.str(), true));
    GUESTDUMP_CHECK(parse_xp_quadwords(text, pa + off, std::span(out).subspan(off, n)));
  }
  return out;
}

} // namespace

Result<LiveMemoryView> open_live_memory(const MonitorFn& monitor, pid_t pid,
                                        std::vector<GuestRamRange> ranges,
                                        std::optional<std::uint64_t> vmcoreinfo_hint) {
  auto regs_text = monitor("info registers -a", true);
  if (!regs_text) return (std::move(regs_text).error());
  auto cpus = parse_info_registers(*regs_text);
  if (!cpus) return (std::move(cpus).error());
  // The probe page that identifies guest RAM in the process: the page-table root of the first
  // vCPU with paging on, never all zeros.
  std::optional<std::uint64_t> probe_pa;
  for (const auto& c : *cpus) {
    if ((c.cr[0] & (1u << 31)) != 0 && (c.cr[3] & 0x000ffffffffff000ull) != 0) {
      probe_pa = c.cr[3] & 0x000ffffffffff000ull;
      break;
    }
  }
  if (!probe_pa) {
    return make_error(ErrorCode::kUnsupported, "no vCPU has paging enabled");
  }
  auto probe = read_physical(monitor, *probe_pa, kPageSize);
  if (!probe) return (std::move(probe).error());
  auto hva = locate_blocks(pid, ranges, *probe_pa / kPageSize, *probe, kPageSize);
  if (!hva) return (std::move(hva).error());
  // Small blocks (BIOS, option ROMs) no mapping identifies: copied through `xp`.
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> local;
  for (const auto& r : ranges) {
    const bool located =
        std::any_of(hva->begin(), hva->end(), [&](const auto& h) { return h.first == r.block; });
    if (located || r.size > kMaxLocalRom || r.gpa % kPageSize != 0 || r.size % kPageSize != 0) {
      continue;
    }
    auto bytes = read_physical(monitor, r.gpa, r.size);
    if (!bytes) return (std::move(bytes).error());
    local.emplace_back(r.gpa, std::move(*bytes));
  }

  formats::DumpMetadata base;
  base.arch = formats::KdumpArch::kX86_64;
  base.page_size = kPageSize;
  base.notes = cpu_notes(*cpus);
  base.nr_cpus = static_cast<int>(cpus->size());
  // No QEMU dump, so no VMCOREINFO note: the locator finds the kernel's own copy and proves it
  // against the vCPUs' page tables.
  kernel::LocateOptions lo;
  lo.hint_pa = vmcoreinfo_hint;
  auto found = [&]() -> Result<kernel::LocateReport> {
    LiveGuestMemory bare(pid, base, ranges, *hva, local);
    // Pages QEMU never touched read as zeros and hold no note, and reading them faults them in
    // (the first full scan of a fresh 16 GiB guest: 20 s): look among the touched pages first,
    // then, should that find nothing (pagemap unreadable, a note in memory QEMU never mapped),
    // everywhere.
    if (auto touched = bare.populated()) {
      LiveGuestMemory view(pid, base, ranges, *hva, local);
      view.restrict_available(*touched);
      auto r = kernel::locate_vmcoreinfo(view, lo);
      if (r && r->vmcoreinfo) return r;
      GUESTDUMP_LOG(kDebug, "capture")
          << "VMCOREINFO: not among the " << touched->count() << " pages QEMU touched ("
          << (r ? r->summary : r.error().message) << "); scanning all RAM";
    } else {
      GUESTDUMP_LOG(kDebug, "capture")
          << "VMCOREINFO: " << touched.error().message << "; scanning all RAM";
    }
    return kernel::locate_vmcoreinfo(bare, lo);
  }();
  if (!found) return (std::move(found).error());
  GUESTDUMP_LOG(kDebug, "capture") << "VMCOREINFO: " << found->summary;
  if (!found->vmcoreinfo) {
    return make_error(ErrorCode::kUnsupported, "no VMCOREINFO: " + found->summary);
  }
  base.vmcoreinfo = std::move(found->vmcoreinfo);
  base.vmcoreinfo_origin = found->origin;
  LiveMemoryView view;
  view.vmcoreinfo_origin = found->origin;
  view.memory = std::make_unique<LiveGuestMemory>(pid, std::move(base), std::move(ranges),
                                                  std::move(*hva), std::move(local));
  return view;
}

} // namespace guestdump::host::detail
