#include "lagscale/base/clock.h"

#include <chrono>

namespace lagscale::base {

const SystemClock& SystemClock::Get() {
  static const SystemClock clock;
  return clock;
}

int64_t SystemClock::MonotonicNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::UnixNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace lagscale::base
