// Error values for everything a caller or an input file can cause.
//
// The library reports bad input through Result<T> and Status, never by aborting or by letting an
// exception escape a public function. Assertions remain only for internal invariants.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace glimpse {

enum class ErrorCode {
  kInvalidArgument,  // a caller-supplied value is out of range or inconsistent
  kNotFound,         // a file, tensor or field does not exist
  kIoError,          // the operating system failed to open, stat or map a file
  kInvalidFormat,    // a file's content does not follow its format
  kUnsupported,      // a valid input that glimpse does not implement
  kOutOfRange,       // a request exceeds a capacity, such as the context window
  kInternal,         // a broken internal invariant
};

// Returns the lowercase name of `code`, such as "invalid format".
std::string_view error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // Returns "<code name>: <message>".
  std::string to_string() const;
};

// Holds either a value or an Error. Callers must inspect it.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}                  // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}              // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const { return std::get<Error>(state_); }
  Error&& take_error() { return std::get<Error>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

// Success or an Error, for operations without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  Error&& take_error() { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace glimpse

// Returns the error of a Status-returning expression from the enclosing function.
#define GLIMPSE_RETURN_IF_ERROR(expr)              \
  do {                                             \
    auto glimpse_status_ = (expr);                 \
    if (!glimpse_status_.ok()) {                   \
      return glimpse_status_.take_error();         \
    }                                              \
  } while (false)

#define GLIMPSE_CONCAT_INNER(a, b) a##b
#define GLIMPSE_CONCAT(a, b) GLIMPSE_CONCAT_INNER(a, b)

// Declares `lhs` from a Result-returning expression, or returns its error.
#define GLIMPSE_ASSIGN_OR_RETURN(lhs, expr) \
  GLIMPSE_ASSIGN_OR_RETURN_IMPL(GLIMPSE_CONCAT(glimpse_result_, __LINE__), lhs, expr)
#define GLIMPSE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) {                                    \
    return tmp.take_error();                          \
  }                                                   \
  lhs = std::move(tmp).value()
