#pragma once

#include <cstdint>

#include "lagscale/base/clock.h"

namespace lagscale::metrics {

// TurnClock: a clock reading shared by everything one turn of an event loop handles (nginx caches
// its time per loop iteration the same way). The loop calls NewTurn() before each handler; the
// first NowNs() of the turn reads the clock, later ones reuse that reading. A request's begin and
// end each take one reading and the guard subtracts exactly the start it added, so the busy-time
// integral stays exact; durations are exact to within one handler's run.
// Thread safety: one event-loop thread only; `clock` must outlive it.
class TurnClock {
 public:
  explicit TurnClock(const base::Clock& clock) : clock_(clock) {}
  void NewTurn() { fresh_ = false; }
  int64_t NowNs() {
    if (!fresh_) {
      now_ = clock_.MonotonicNs();
      fresh_ = true;
    }
    return now_;
  }

 private:
  const base::Clock& clock_;
  int64_t now_ = 0;
  bool fresh_ = false;
};

}  // namespace lagscale::metrics
