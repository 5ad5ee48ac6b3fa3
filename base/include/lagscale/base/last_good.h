#pragma once

// LastGood<T>: a value read from files that may change under a running process (a rotated token,
// a renewed certificate). Reread() reads them again: a good read replaces the value, a failed one
// (a rotation caught half-way, a Secret emptied) keeps the last good value. The log says why once
// per distinct error, with what the process does meanwhile, and once when the files are good again.
// The first read happens at construction and throws: bad files stop start-up. RereadEvery() reads
// again at most once per interval, for callers on a path too hot to read files every time.
// Thread safety: none; callers serialise.

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include "lagscale/base/result.h"

namespace lagscale::base {

// The logging behind LastGood (last_good.cc): `last` is the error logged last ("" while good).
void LogRereadError(const std::string& error, const std::string& meanwhile, std::string& last);
void LogRereadGood(std::string& last);

template <class T>
class LastGood {
 public:
  // `read` gives the value or an error naming the flag and the file. `meanwhile` ends the warning,
  // e.g. "reporting with the last good token". Throws std::runtime_error with read's error.
  LastGood(std::function<Result<T>()> read, std::string meanwhile)
      : read_(std::move(read)),
        meanwhile_(std::move(meanwhile)),
        value_(read_().OrThrow()),
        read_at_(std::chrono::steady_clock::now()) {}

  // Reads again; true when the value changed.
  bool Reread() {
    read_at_ = std::chrono::steady_clock::now();
    Result<T> next = read_();
    if (!next) {
      LogRereadError(next.error(), meanwhile_, error_);
      return false;
    }
    LogRereadGood(error_);
    if (*next == value_) return false;
    value_ = std::move(*next);
    return true;
  }

  // Reread() once `every` has passed since the last read (construction counts); false otherwise.
  bool RereadEvery(std::chrono::steady_clock::duration every) {
    if (std::chrono::steady_clock::now() - read_at_ < every) return false;
    return Reread();
  }

  const T& value() const { return value_; }

 private:
  const std::function<Result<T>()> read_;
  const std::string meanwhile_;
  T value_;
  std::string error_;  // the last error logged; "" while the files are good
  std::chrono::steady_clock::time_point read_at_;
};

}  // namespace lagscale::base
