#pragma once
// Capture from a Xen (libxl) libvirt connection: xc_core to a temporary file, then convert.
// Private to host/.

#include <string>

#include <libvirt/libvirt.h> // types only; functions through libvirt_api.h

#include "guestdump/common/result.h"
#include "guestdump/host/capture.h"
#include "guestdump/host/libvirt_dump_method.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::host::detail {

/// Dumps `dom` with virDomainCoreDump (libxl writes xc_core; it pauses the guest for the dump
/// and resumes it) into `.xen-core` in the dump's partial directory, converts that file into
/// the dump's vmcore and dmesg.txt, and removes it whatever happens. `res` carries the
/// meta.json fields known so far; `where` names the capture in errors.
Result<CaptureResult> capture_libvirt_xen(virDomainPtr dom, const std::string& uri,
                                          const std::string& where, CaptureResult res,
                                          const store::DumpStore& store,
                                          const CaptureOptions& opts);

} // namespace guestdump::host::detail
