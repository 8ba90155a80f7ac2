#pragma once
// The guest kernel log (dmesg) from a dump and VMCOREINFO alone, formatted line for line as
// makedumpfile 1.7.2 `--dump-dmesg` prints it. Three buffer layouts are understood:
//   - the lockless printk ring buffer (Linux >= 5.10, SYMBOL(prb)),
//   - the variable-length record buffer (3.5 - 5.9, SYMBOL(log_first_idx)),
//   - the plain character buffer (< 3.5, SYMBOL(log_end)).
// Guest memory is untrusted: ring sizes are capped, indexes taken modulo the ring, and every
// walk is bounded by the ring's capacity, so lying memory yields a short log or an error, never
// a crash or a hang.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/vmcoreinfo.h"
#include "guestdump/kernel/limits.h"

namespace guestdump::kernel {

/// Reads guest kernel virtual memory; the extractor's only view of the guest. Errors name the
/// address.
using KernelReadFn = std::function<Result<void>(std::uint64_t va, std::span<std::byte> out)>;

enum class KernelLogKind { kPrintkRingbuffer, kRecordBuffer, kTextBuffer };

struct KernelLog {
  KernelLogKind kind = KernelLogKind::kPrintkRingbuffer;
  std::string text;          // what makedumpfile --dump-dmesg writes to its LOGFILE
  std::uint64_t records = 0; // records printed (text buffer: 0)
  /// Printk ring buffer with OFFSET(printk_info.seq): each printed record's sequence number and
  /// where its text starts in `text`, oldest first (empty for the other layouts).
  struct RecordRef {
    std::uint64_t seq = 0;
    std::size_t offset = 0;
  };
  std::vector<RecordRef> record_refs;
  /// Printk ring buffer: records whose text block or printk_info belongs to another record (the
  /// block's id is not the descriptor's, or the sequence numbers do not run with the ids), as
  /// when the ring was read while the guest wrote it. A dump prints them as they are (like
  /// makedumpfile) with a warning; the live log reads again.
  std::uint64_t torn_records = 0;
  /// Inconsistencies that were worked around (clamped lengths, skipped records, ...).
  std::vector<std::string> warnings;
};

/// Human-readable name of a buffer layout ("printk ringbuffer", ...).
std::string_view kernel_log_kind_name(KernelLogKind kind);

/// Caps on the formatted log (limits.h); tests lower them.
struct KernelLogLimits {
  std::uint64_t max_output_bytes = kMaxLogOutputBytes;
  std::uint64_t max_records = kMaxLogRecords;
  /// The guest runs while its ring is read (the live log): the printk ring buffer's descriptors
  /// are read again after the text, and a record whose descriptor changed meanwhile (reused, so
  /// its text or printk_info may be another record's) counts in torn_records, as the kernel's
  /// own readers check.
  bool recheck_descriptors = false;
};
/// Extracts and formats the log described by `vi`, reading guest memory through `read`.
/// kNotFound when VMCOREINFO describes no log buffer; kBadData when the buffer's metadata is
/// unusable (VMCOREINFO sizes or offsets beyond their structures, rings beyond the caps in
/// limits.h or beyond readable memory). Every byte that is neither printable ASCII nor
/// whitespace is escaped; a log beyond `limits` loses its oldest records, with a warning.
Result<KernelLog> extract_kernel_log(const formats::VmcoreInfo& vi, const KernelReadFn& read,
                                     const KernelLogLimits& limits = {});

/// The log of the guest in `src` (x86_64 page-table translation from VMCOREINFO).
Result<KernelLog> read_kernel_log(const formats::DumpSource& src,
                                  const KernelLogLimits& limits = {});

} // namespace guestdump::kernel
