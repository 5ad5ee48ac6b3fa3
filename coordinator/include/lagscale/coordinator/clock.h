#pragma once

// Clock: the coordinator's time source, a seam so tests and benchmarks drive time by hand.
// (The coordinator shares only proto/ with the sidecar, so it does not reuse metrics::Clock.)
// Thread safety: implementations must be safe to call from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace lagscale::coordinator {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t MonotonicNs() const = 0;  // never goes backwards; only differences matter
  virtual int64_t UnixNs() const = 0;       // for timestamps people read
};

class SystemClock final : public Clock {
 public:
  static const SystemClock& Get() {
    static const SystemClock clock;
    return clock;
  }
  int64_t MonotonicNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t UnixNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Moves only when told to; both readings advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t monotonic_ns = 1'000'000'000,
                       int64_t unix_ns = 1'700'000'000'000'000'000)
      : mono_(monotonic_ns), unix_offset_(unix_ns - monotonic_ns) {}
  void AdvanceNs(int64_t ns) { mono_.fetch_add(ns, std::memory_order_relaxed); }
  void AdvanceSeconds(double s) { AdvanceNs(static_cast<int64_t>(s * 1e9)); }
  int64_t MonotonicNs() const override { return mono_.load(std::memory_order_relaxed); }
  int64_t UnixNs() const override { return MonotonicNs() + unix_offset_; }

 private:
  std::atomic<int64_t> mono_;
  const int64_t unix_offset_;
};

}  // namespace lagscale::coordinator
