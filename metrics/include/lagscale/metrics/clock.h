#pragma once

#include <atomic>
#include <cstdint>

namespace lagscale::metrics {

// Clock: the ledger's time source. A seam so tests can drive time by hand.
// Thread safety: implementations must be safe to call from any thread.
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
  explicit ManualClock(int64_t monotonic_ns = 1'000'000'000, int64_t unix_ns = 1'700'000'000'000'000'000)
      : mono_(monotonic_ns), unix_offset_(unix_ns - monotonic_ns) {}
  void AdvanceNs(int64_t ns) { mono_.fetch_add(ns, std::memory_order_relaxed); }
  int64_t MonotonicNs() const override { return mono_.load(std::memory_order_relaxed); }
  int64_t UnixNs() const override { return MonotonicNs() + unix_offset_; }

 private:
  std::atomic<int64_t> mono_;
  const int64_t unix_offset_;
};

// TurnClock: a clock reading shared by everything one turn of an event loop handles (nginx caches
// its time per loop iteration the same way). The loop calls NewTurn() before each handler; the
// first NowNs() of the turn reads the clock, later ones reuse that reading. A request's begin and
// end each take one reading and the guard subtracts exactly the start it added, so the busy-time
// integral stays exact; durations are exact to within one handler's run.
// Thread safety: one event-loop thread only; `clock` must outlive it.
class TurnClock {
 public:
  explicit TurnClock(const Clock& clock) : clock_(clock) {}
  void NewTurn() { fresh_ = false; }
  int64_t NowNs() {
    if (!fresh_) {
      now_ = clock_.MonotonicNs();
      fresh_ = true;
    }
    return now_;
  }

 private:
  const Clock& clock_;
  int64_t now_ = 0;
  bool fresh_ = false;
};

}  // namespace lagscale::metrics
