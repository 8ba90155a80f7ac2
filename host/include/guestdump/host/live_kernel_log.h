#pragma once
// The kernel log of a running guest, read out of its QEMU process without pausing it (`guestdump
// dmesg DOMAIN [-f]`). The guest writes its printk ring while we read it, so one read can be
// torn (a record overwritten between its descriptor and its text, the oldest records dropped
// as the ring wraps). A read is accepted only when a second read agrees with it: the second
// must be the first with some of its oldest lines dropped and new lines appended; otherwise
// both are discarded and the pair is taken again, a bounded number of times.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::host {

namespace detail {
struct LiveMemoryView;
}

class LiveKernelLog {
public:
  /// Locates the running libvirt domain `domain` (name or UUID) on the local QEMU URI `uri`:
  /// its RAM in the QEMU process and its VMCOREINFO. Needs ptrace rights over QEMU.
  static Result<std::unique_ptr<LiveKernelLog>> open_libvirt(const std::string& uri,
                                                             const std::string& domain);
  ~LiveKernelLog();
  LiveKernelLog(const LiveKernelLog&) = delete;
  LiveKernelLog& operator=(const LiveKernelLog&) = delete;

  /// The log's lines (as `guestdump dmesg FILE` prints them), from two agreeing reads; kBadData
  /// when no two consecutive reads out of `attempts` agree.
  Result<std::vector<std::string>> read(int attempts = 8) const;

private:
  explicit LiveKernelLog(std::unique_ptr<detail::LiveMemoryView> view);
  std::unique_ptr<detail::LiveMemoryView> view_;
};

/// Whether `later` is `earlier` with some oldest lines dropped and lines appended (what two
/// untorn reads of a ring look like); two reads with no line in common also agree when
/// `earlier` is empty.
bool log_reads_agree(const std::vector<std::string>& earlier,
                     const std::vector<std::string>& later);

/// Where the lines not yet printed start in `now`, given `last`, the last line printed: just
/// after its last occurrence, or 0 when `now` no longer holds it (the ring wrapped past it).
std::size_t first_new_line(const std::vector<std::string>& now, const std::string& last);

} // namespace guestdump::host
