#pragma once
// UniqueFd: the one owner of a file descriptor. Move-only, no implicit conversion to int.

#include <string>

#include "guestdump/common/result.h"

namespace guestdump {

class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  /// open(2) with O_CLOEXEC added; the error names the path.
  static Result<UniqueFd> open(const std::string& path, int flags, unsigned mode = 0600);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

private:
  int fd_ = -1;
};

} // namespace guestdump
