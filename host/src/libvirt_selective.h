#pragma once
// The selective capture of a libvirt QEMU/KVM domain, without any QEMU dump (private to host/).
// Before the pause: HMP `info mtree -f` (RAM layout), QMP `query-cpus-fast` (a vCPU thread, so
// the QEMU process), a test read of that process (ptrace rights, LSM confinement), then guest
// RAM and VMCOREINFO located in it (live_monitor.h), none of which moves while the guest runs.
// Paused through virDomainSuspend (a running domain only): HMP `info registers -a` again (the
// CPU notes of the stopped guest), the filter, the copy of the kept pages, and the domain is
// resumed, on every path. No libvirt job stays open: each call takes and ends
// its own.

#include "guestdump/host/capture.h"
#include "libvirt_api.h"
#include "live_monitor.h"

namespace guestdump::host::detail {

/// Captures `dom` (active, on the local QEMU connection `uri`: see
/// libvirt_selective_refusal()) with `res` as prepared by capture_libvirt(). Fails without touching
/// the store until the domain's memory is located, so the caller can still fall back to libvirt's
/// core dump.
Result<CaptureResult> capture_libvirt_selective(virDomainPtr dom, const std::string& uri,
                                                CaptureResult res, const store::DumpStore& store,
                                                const CaptureOptions& opts);

/// The memory of the running libvirt domain `domain` on `uri` as a live view, without pausing
/// it (reads race with the guest): for the live kernel log.
Result<LiveMemoryView> open_libvirt_live_memory(const std::string& uri, const std::string& domain);

} // namespace guestdump::host::detail
