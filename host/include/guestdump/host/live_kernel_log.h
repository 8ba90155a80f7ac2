#pragma once
// The kernel log of a running guest, read out of its QEMU process without pausing it (`guestdump
// dmesg DOMAIN|--qmp SOCKET [-f]`). The guest writes its printk ring while we read it, so one
// read can be torn (a record reused between its descriptor, its printk_info and its text, the
// oldest records dropped as the ring wraps). On the printk ring buffer (Linux >= 5.10) every
// record is checked (kernel_log.h: torn_records: sequence numbers, text block owners, the
// descriptors read again after the text) and a read with a torn record is taken again; older
// layouts carry no sequence numbers, so there a read is accepted only when a second read agrees
// with it (the second must be the first with some oldest lines dropped and new lines appended).
// Either way a bounded number of times.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/kernel/kernel_log.h"

namespace guestdump::host {

namespace detail {
struct LiveMemoryView;
}

/// One accepted read: the log's lines and, when the guest's ring numbers its records, each
/// line's record sequence number (the lines of a multi-line record share it).
struct LiveLogRead {
  std::vector<std::string> lines;
  std::vector<std::uint64_t> seqs; // empty, or one per line
};

class LiveKernelLog {
public:
  /// Locates the running libvirt domain `domain` (name or UUID) on the local QEMU URI `uri`:
  /// its RAM in the QEMU process and its VMCOREINFO. Needs ptrace rights over QEMU.
  static Result<std::unique_ptr<LiveKernelLog>> open_libvirt(const std::string& uri,
                                                             const std::string& domain);
  /// Locates the guest behind the QMP socket `socket` (an unmanaged QEMU): the socket's peer
  /// is the QEMU process. The monitor is used only here and closed before this returns, so the
  /// socket is free again while the log is read.
  static Result<std::unique_ptr<LiveKernelLog>> open_qmp(const std::string& socket);
  ~LiveKernelLog();
  LiveKernelLog(const LiveKernelLog&) = delete;
  LiveKernelLog& operator=(const LiveKernelLog&) = delete;

  /// The log's lines (as `guestdump dmesg FILE` prints them) from one untorn read (printk ring
  /// buffer) or two agreeing reads (older layouts); kBadData when `attempts` reads give none.
  Result<LiveLogRead> read(int attempts = 8) const;

private:
  explicit LiveKernelLog(std::unique_ptr<detail::LiveMemoryView> view);
  std::unique_ptr<detail::LiveMemoryView> view_;
};

/// Whether `later` is `earlier` with some oldest lines dropped and lines appended (what two
/// untorn reads of a ring look like); two reads with no line in common also agree when
/// `earlier` is empty.
bool log_reads_agree(const std::vector<std::string>& earlier,
                     const std::vector<std::string>& later);

/// `log`'s text as lines, with each line's record sequence number when `log` has them.
LiveLogRead split_log(const kernel::KernelLog& log);

/// Where the lines not yet printed start in `now`, given `last`, the last line printed: just
/// after its last occurrence, or 0 when `now` no longer holds it (the ring wrapped past it).
std::size_t first_new_line(const std::vector<std::string>& now, const std::string& last);

/// Where the lines not yet printed start in `now`, given what was printed last: with sequence
/// numbers, the first line of a record newer than `last_seq` (a new line equal to the last one
/// printed is still new); without, first_new_line() of `last_line`.
std::size_t first_unprinted(const LiveLogRead& now, std::optional<std::uint64_t> last_seq,
                            const std::string& last_line);

} // namespace guestdump::host
