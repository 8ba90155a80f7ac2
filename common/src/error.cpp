#include <cerrno>
#include <cstdio>
#include <cstring>

#include "guestdump/common/result.h"

namespace guestdump {

Error errno_error(std::string_view op, std::string_view object, int err) {
  std::string msg(op);
  msg += " '";
  msg += object;
  msg += "': ";
  msg += std::strerror(err);
  return Error{ErrorCode::kOs, std::move(msg), err};
}

Error errno_error(std::string_view op, std::string_view object) {
  return errno_error(op, object, errno);
}

Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message), 0};
}

std::string hex(std::uint64_t value) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(value));
  return b;
}

} // namespace guestdump
