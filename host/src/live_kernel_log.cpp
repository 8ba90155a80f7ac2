// The live kernel log of a running guest; see live_kernel_log.h.

#include "guestdump/host/live_kernel_log.h"

#include <algorithm>
#include <optional>

#include "guestdump/kernel/kernel_log.h"
#include "libvirt_selective.h"

namespace guestdump::host {

bool log_reads_agree(const std::vector<std::string>& earlier,
                     const std::vector<std::string>& later) {
  if (earlier.empty() || later.empty()) return true;
  // They agree when a non-empty suffix of `earlier` is a prefix of `later`. Knuth-Morris-Pratt
  // over lines finds the longest such suffix in time linear in the lines: a guest that fills its
  // ring with near-identical lines cannot make the comparison quadratic.
  std::vector<std::size_t> border(later.size(), 0);
  for (std::size_t i = 1, k = 0; i < later.size(); ++i) {
    while (k > 0 && later[i] != later[k]) k = border[k - 1];
    if (later[i] == later[k]) ++k;
    border[i] = k;
  }
  std::size_t matched = 0;
  for (const std::string& line : earlier) {
    if (matched == later.size()) matched = border[matched - 1];
    while (matched > 0 && line != later[matched]) matched = border[matched - 1];
    if (line == later[matched]) ++matched;
  }
  return matched > 0;
}

LiveLogRead split_log(const kernel::KernelLog& log) {
  LiveLogRead out;
  const std::string& text = log.text;
  const auto& refs = log.record_refs;
  std::size_t rec = 0; // the record holding the current line
  std::size_t at = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    const auto end = nl == std::string::npos ? text.size() : nl;
    if (!refs.empty()) {
      while (rec + 1 < refs.size() && refs[rec + 1].offset <= at) ++rec;
      out.seqs.push_back(refs[rec].seq);
    }
    out.lines.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

std::size_t first_unprinted(const LiveLogRead& now, std::optional<std::uint64_t> last_seq,
                            const std::string& last_line) {
  if (!now.seqs.empty() && now.seqs.size() == now.lines.size()) {
    if (!last_seq) return 0;
    // Sequence numbers only grow (a 64-bit counter does not wrap in a guest's lifetime).
    const auto it = std::upper_bound(now.seqs.begin(), now.seqs.end(), *last_seq);
    return static_cast<std::size_t>(it - now.seqs.begin());
  }
  return last_line.empty() ? 0 : first_new_line(now.lines, last_line);
}

std::size_t first_new_line(const std::vector<std::string>& now, const std::string& last) {
  for (std::size_t i = now.size(); i > 0; --i) {
    if (now[i - 1] == last) return i;
  }
  return 0;
}

LiveKernelLog::LiveKernelLog(std::unique_ptr<detail::LiveMemoryView> view)
    : view_(std::move(view)) {}
LiveKernelLog::~LiveKernelLog() = default;

Result<std::unique_ptr<LiveKernelLog>> LiveKernelLog::open_libvirt(const std::string& uri,
                                                                   const std::string& domain) {
  GUESTDUMP_TRY(auto view, detail::open_libvirt_live_memory(uri, domain));
  return std::unique_ptr<LiveKernelLog>(
      new LiveKernelLog(std::make_unique<detail::LiveMemoryView>(std::move(view))));
}

Result<std::unique_ptr<LiveKernelLog>> LiveKernelLog::open_qmp(const std::string& socket) {
  GUESTDUMP_TRY(auto view, detail::open_qmp_live_memory(socket));
  return std::unique_ptr<LiveKernelLog>(
      new LiveKernelLog(std::make_unique<detail::LiveMemoryView>(std::move(view))));
}

Result<LiveLogRead> LiveKernelLog::read(int attempts) const {
  kernel::KernelLogLimits limits;
  limits.recheck_descriptors = true;
  std::optional<LiveLogRead> prev;
  std::string last_error = "no read";
  for (int i = 0; i < attempts; ++i) {
    auto log = kernel::read_kernel_log(*view_->memory, limits);
    if (!log) {
      // A torn ring can look malformed; the next read may be whole.
      last_error = log.error().message;
      prev.reset();
      continue;
    }
    if (log->torn_records != 0) {
      last_error = std::to_string(log->torn_records) + " records changed while they were read";
      prev.reset();
      continue;
    }
    auto lines = split_log(*log);
    // Every record was checked against its sequence number and its descriptor: one read will do.
    if (!lines.seqs.empty()) return lines;
    if (prev && log_reads_agree(prev->lines, lines.lines)) return lines;
    if (prev) last_error = "two reads disagreed";
    prev = std::move(lines);
  }
  return make_error(ErrorCode::kBadData, "kernel log: no untorn read in " +
                                             std::to_string(attempts) +
                                             " attempts (last error: " + last_error + ")");
}

} // namespace guestdump::host
