#include "guestdump/common/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

namespace guestdump {

Result<UniqueFd> UniqueFd::open(const std::string& path, int flags, unsigned mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return errno_error("open", path);
  return UniqueFd(fd);
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

} // namespace guestdump
