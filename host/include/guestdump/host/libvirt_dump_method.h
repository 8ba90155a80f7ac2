#pragma once
// How `guestdump dump DOMAIN -c URI` asks libvirt for guest memory (see docs/operations.md).

#include <optional>
#include <string>
#include <string_view>

#include "guestdump/common/result.h"
#include "guestdump/host/capture.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::host {

enum class LibvirtDumpMethod {
  /// QEMU driver: virDomainCoreDumpWithFormat(MEMORY_ONLY, ELF) into a FIFO we read as it is
  /// written; no file of guest-RAM size.
  kMemoryOnlyStream,
  /// Xen (libxl) driver: virDomainCoreDump writes an xc_core file, whose PFN index follows the
  /// pages it describes, so it cannot be converted as it streams: it goes to a temporary file
  /// in the dump's partial directory (the one RAM-sized temporary guestdump ever writes) and
  /// is converted from there.
  kXenCoreFile,
};

/// Decides from the connection's driver type (virConnectGetType: "QEMU", "Xen", ...; empty
/// when unknown), which wins, and else from the URI scheme ("xen", "xen+ssh", ... or "libxl").
LibvirtDumpMethod libvirt_dump_method(std::string_view uri, std::string_view driver_type);

/// Why the selective path (read the QEMU process, short pause) cannot capture a domain of this
/// connection, or nullopt when it may try: Xen, a driver other than QEMU, a remote URI.
std::optional<std::string> libvirt_selective_refusal(std::string_view uri,
                                                     std::string_view driver_type);

/// The second half of a capture through a core file (Xen's xc_core; QEMU's compressed kdump
/// file from libvirt's core dump): converts the file `core` (inside `pending`'s directory) into
/// the dump's vmcore and dmesg.txt at the dump level asked for, fills `meta` and commits the
/// dump. `core` is removed on every path; on failure the dump becomes a failure record
/// (meta.json "failed: ...", no vmcore) and the error names the core file.
Result<std::string> store_core_file(const std::string& core, store::PendingDump& pending,
                                    store::DumpMeta& meta, const CaptureOptions& opts);

} // namespace guestdump::host
