#pragma once
// Guest RAM inside a QEMU process and the guest's VMCOREINFO, located through monitor commands
// alone, never a QEMU dump (libvirtd 9.0 crashes on the DUMP_COMPLETED event of a dump it did
// not start): HMP `info registers -a` gives the CPU notes, `xp` of the first paging vCPU's
// page-table root the probe page that picks each RAM block's mapping in the process, `xp` of
// small firmware blocks their bytes, and the locator the kernel's own VMCOREINFO, proved
// against those CPU notes. Used by the selective capture of libvirt domains (guest stopped)
// and by the live kernel log (guest running: reads race with it). Private to host/.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "guestdump/common/result.h"
#include "live_memory.h"

namespace guestdump::host::detail {

/// Runs one monitor command: HMP text when `hmp`, else a QMP command's JSON; returns the reply
/// text (HMP) or the whole reply object (QMP).
using MonitorFn = std::function<Result<std::string>(const std::string& command, bool hmp)>;

struct LiveMemoryView {
  std::unique_ptr<LiveGuestMemory> memory; // carries the CPU notes and VMCOREINFO
  std::string vmcoreinfo_origin;           // vmcoreinfo_locator.h's origin string
};

/// Locates the RAM `ranges` (from `info mtree -f`) in QEMU process `pid` and the guest's
/// VMCOREINFO (`vmcoreinfo_hint` first). kUnsupported when no vCPU has paging on or no
/// VMCOREINFO proves itself.
Result<LiveMemoryView> open_live_memory(const MonitorFn& monitor, pid_t pid,
                                        std::vector<GuestRamRange> ranges,
                                        std::optional<std::uint64_t> vmcoreinfo_hint);

/// Whether we may read the memory of QEMU process `pid` (ptrace rights; an LSM may forbid
/// them): one byte of its first mapping.
Result<void> check_access(pid_t pid);

/// The memory of the guest behind the QMP socket `socket` as a live view, without pausing it
/// (reads race with the guest): for the live kernel log. The QMP session is closed on return.
Result<LiveMemoryView> open_qmp_live_memory(const std::string& socket);

} // namespace guestdump::host::detail
