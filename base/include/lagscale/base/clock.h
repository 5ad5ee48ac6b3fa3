#pragma once

// Clock: the time source of the sidecar's ledger and of the coordinator, a seam so tests and
// benchmarks drive time by hand.
// Thread safety: implementations must be safe to call from any thread.

#include <atomic>
#include <cstdint>

namespace lagscale::base {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds on a clock that never goes backwards (steady_clock); only differences matter.
  virtual int64_t MonotonicNs() const = 0;
  // Nanoseconds since the Unix epoch (system_clock), for timestamps people read.
  virtual int64_t UnixNs() const = 0;
};

// The process's real clocks.
class SystemClock final : public Clock {
 public:
  static const SystemClock& Get();
  int64_t MonotonicNs() const override;
  int64_t UnixNs() const override;
};

// A clock that only moves when told to. Both readings advance together.
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

}  // namespace lagscale::base
