#pragma once
// Result<T>: the one error idiom of guestdump.
//
// Member names follow std::expected (has_value, value, error, operator bool, operator*), so the
// switch to std::expected once the toolchain has it is one alias.
//
// Three uses:
//   propagate:  GUESTDUMP_TRY(auto n, read_header(fd));            // returns the error upward
//               if (auto r = step(); !r) return std::move(r).error().context("step");
//   handle:     if (!r) { if (r.error().code == ErrorCode::kNotFound) ...; }
//   consume:    in main(): print "guestdump: error: " + r.error().what() and exit 1.

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace guestdump {

/// The field's error vocabulary (drgn / libkdumpfile style).
enum class ErrorCode {
  kOs,          // a system call failed; sys_errno says why
  kBadData,     // input bytes (guest memory, dump file, QMP) are malformed
  kProtocol,    // a peer broke a protocol
  kNotFound,    // a named object does not exist
  kUnsupported, // valid input we do not handle
  kTimeout,
  kCancelled,
  kInvalidArgument, // the caller (usually the operator) asked for something impossible
};

/// An error: a code, a human message built as a context chain, and errno where one applies.
struct Error {
  ErrorCode code = ErrorCode::kBadData;
  std::string message;
  int sys_errno = 0;

  /// Prepends "what: " to the message, building chains like "convert 'a': read 'b': EOF".
  Error&& context(std::string_view what) && {
    message.insert(0, std::string(what) + ": ");
    return std::move(*this);
  }
  Error& context(std::string_view what) & {
    message.insert(0, std::string(what) + ": ");
    return *this;
  }
  const std::string& what() const { return message; }
};

/// An error from errno: "<op> '<object>': <strerror>".
Error errno_error(std::string_view op, std::string_view object, int err);
/// Same, taking the current errno.
Error errno_error(std::string_view op, std::string_view object);
Error make_error(ErrorCode code, std::string message);
/// "0x1f000": how error messages write addresses, offsets and raw values.
std::string hex(std::uint64_t value);

template <typename T = void> class [[nodiscard]] Result {
public:
  using value_type = T;
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {} // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {} // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }

private:
  std::variant<T, Error> v_;
};

template <> class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {} // NOLINT: implicit by design

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { assert(ok_); }

  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

private:
  Error error_;
  bool ok_ = true;
};

} // namespace guestdump

#define GUESTDUMP_CONCAT_INNER(a, b) a##b
#define GUESTDUMP_CONCAT(a, b) GUESTDUMP_CONCAT_INNER(a, b)

/// GUESTDUMP_TRY(decl, expr): evaluates a Result; on error returns it, else binds the value.
#define GUESTDUMP_TRY(decl, expr) GUESTDUMP_TRY_IMPL(GUESTDUMP_CONCAT(try_r_, __LINE__), decl, expr)
#define GUESTDUMP_TRY_IMPL(tmp, decl, expr)                                                        \
  auto tmp = (expr);                                                                               \
  if (!tmp) return std::move(tmp).error();                                                         \
  decl = std::move(tmp).value()

/// GUESTDUMP_CHECK(expr): evaluates a Result<void> (or any Result) and returns its error.
#define GUESTDUMP_CHECK(expr)                                                                      \
  do {                                                                                             \
    if (auto try_r_ = (expr); !try_r_) return std::move(try_r_).error();                           \
  } while (0)
