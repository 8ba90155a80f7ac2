#include "socket_io.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace guestdump::qmp::detail {

int ms_until(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

Result<UniqueFd> connect_unix(const std::string& path, Clock::time_point deadline) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "connect '" + path + "': socket path must be 1 to " +
                          std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return errno_error("socket for", path);
    int rc;
    do {
      rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return fd;
    int err = errno;
    if (err == EINPROGRESS || err == EAGAIN) {
      // The listener's backlog is full: wait for the connection to complete.
      pollfd p{fd.get(), POLLOUT, 0};
      int n;
      do {
        n = ::poll(&p, 1, ms_until(deadline));
      } while (n < 0 && errno == EINTR);
      if (n < 0) return errno_error("poll", path);
      if (n == 0) break;
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) {
        return errno_error("getsockopt", path);
      }
      if (so_error == 0) return fd;
      err = so_error;
    }
    // A missing or refusing socket is normal while QEMU starts; anything else is final.
    if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN) {
      return errno_error("connect", path, err);
    }
    if (Clock::now() >= deadline) {
      Error e = errno_error("connect", path, err);
      e.message += " (gave up waiting for the socket)";
      return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return make_error(ErrorCode::kTimeout, "connect '" + path + "': timed out");
}

Result<void> set_nonblocking(int fd, std::string_view name) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return errno_error("set O_NONBLOCK on", name);
  }
  return {};
}

Result<void> send_all(int fd, std::string_view data, std::span<const int> fds,
                      Clock::time_point deadline, std::string_view name) {
  std::vector<char> control;
  if (!fds.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
  }
  bool fds_sent = fds.empty();
  std::size_t done = 0;
  while (done < data.size()) {
    iovec iov{const_cast<char*>(data.data() + done), data.size() - done};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds_sent) {
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      fds_sent = true; // ancillary data travels with the first byte sent
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      int rc = ::poll(&p, 1, ms_until(deadline));
      if (rc < 0 && errno != EINTR) return errno_error("poll", name);
      if (rc == 0) {
        return make_error(ErrorCode::kTimeout,
                          "send to '" + std::string(name) + "': socket buffer stayed full");
      }
      continue;
    }
    if (n < 0) return errno_error("send to", name);
  }
  return {};
}

} // namespace guestdump::qmp::detail
