#pragma once

// Result<T>: a start-up value (a parsed flag, a file's contents, a resolved address) or the
// sentence that says why there is none. The one error idiom of base/: the message names the
// setting and the value, so a caller prints it or throws it as is and start-up stops.
// Thread safety: a plain value; const methods may be called concurrently.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace lagscale::base {

template <class T>
class Result {
 public:
  static Result Ok(T value) { return Result(std::move(value), {}); }
  static Result Error(std::string message) { return Result(std::nullopt, std::move(message)); }

  explicit operator bool() const { return value_.has_value(); }
  // REQUIRES: *this holds a value.
  const T& operator*() const { return *value_; }
  T& operator*() { return *value_; }
  const T* operator->() const { return &*value_; }
  // Empty when *this holds a value.
  const std::string& error() const { return error_; }
  // The value, or std::runtime_error carrying error(): for start-up code that stops on failure.
  const T& OrThrow() const {
    if (!value_) throw std::runtime_error(error_);
    return *value_;
  }

 private:
  Result(std::optional<T> value, std::string error)
      : value_(std::move(value)), error_(std::move(error)) {}

  std::optional<T> value_;
  std::string error_;
};

}  // namespace lagscale::base
