#pragma once
// Capture through libvirt: `guestdump dump DOMAIN -c URI`. libvirt's memory-only core dump
// (virDomainCoreDumpWithFormat, ELF) is written into a FIFO that guestdump reads, so the
// guest's memory streams into the same spool → filter → kdump path as a QMP capture and no
// file of guest-RAM size is written. libvirt pauses a running guest for the dump and resumes
// it afterwards; a crashed (panicked) guest stays as it is.

#include <string>

#include "guestdump/common/result.h"
#include "guestdump/host/capture.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::host {

/// Captures `domain` (name or UUID) on libvirt connection `uri` into `store`.
Result<CaptureResult> capture_libvirt(const std::string& uri, const std::string& domain,
                                      const store::DumpStore& store, const CaptureOptions& opts);

} // namespace guestdump::host
