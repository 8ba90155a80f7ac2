// The live kernel log of a running guest; see live_kernel_log.h.

#include "guestdump/host/live_kernel_log.h"

#include <algorithm>

#include "guestdump/kernel/kernel_log.h"
#include "libvirt_selective.h"

namespace guestdump::host {

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    const auto end = nl == std::string::npos ? text.size() : nl;
    lines.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

} // namespace

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

Result<std::vector<std::string>> LiveKernelLog::read(int attempts) const {
  std::optional<std::vector<std::string>> prev;
  std::string last_error = "no read";
  for (int i = 0; i < attempts; ++i) {
    auto log = kernel::read_kernel_log(*view_->memory);
    if (!log) {
      // A torn ring can look malformed; the next read may be whole.
      last_error = log.error().message;
      prev.reset();
      continue;
    }
    auto lines = split_lines(log->text);
    if (prev && log_reads_agree(*prev, lines)) return lines;
    if (prev) last_error = "two reads disagreed";
    prev = std::move(lines);
  }
  return make_error(ErrorCode::kBadData, "kernel log: no two consecutive reads of " +
                                             std::to_string(attempts) +
                                             " agreed (last error: " + last_error + ")");
}

} // namespace guestdump::host
