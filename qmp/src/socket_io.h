#pragma once
// Socket plumbing of the QMP client: connecting with a deadline, sending with SCM_RIGHTS,
// non-blocking mode. Every error names the peer.

#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include <guestdump/common/result.h>
#include <guestdump/common/unique_fd.h>

namespace guestdump::qmp::detail {

using Clock = std::chrono::steady_clock;

/// Milliseconds left until `deadline` (0 when past), for poll().
int ms_until(Clock::time_point deadline);

/// Connects a SOCK_STREAM socket to `path`, retrying while the socket file is missing or refuses
/// connections (QEMU still starting) until `deadline`.
Result<UniqueFd> connect_unix(const std::string& path, Clock::time_point deadline);

/// Sets O_NONBLOCK on `fd`.
Result<void> set_nonblocking(int fd, std::string_view name);

/// Sends all of `data` on the non-blocking socket `fd`, with `fds` attached as SCM_RIGHTS to the
/// first chunk; retries EINTR and short writes, waits for buffer space until `deadline`.
Result<void> send_all(int fd, std::string_view data, std::span<const int> fds,
                      Clock::time_point deadline, std::string_view name);

} // namespace guestdump::qmp::detail
