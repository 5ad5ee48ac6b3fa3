#include "lagscale/metrics/turn_clock.h"

#include <gtest/gtest.h>

namespace lagscale::metrics {
namespace {

// Counts its readings, so the test sees how often a TurnClock reads it.
class CountingClock final : public base::Clock {
 public:
  int64_t MonotonicNs() const override { return 1000 * ++reads_; }
  int64_t UnixNs() const override { return 0; }
  int reads() const { return reads_; }

 private:
  mutable int reads_ = 0;
};

TEST(TurnClockTest, ReadsTheClockOncePerTurnAndOnlyWhenAsked) {
  CountingClock clock;
  TurnClock turn(clock);
  EXPECT_EQ(turn.NowNs(), 1000);
  EXPECT_EQ(turn.NowNs(), 1000);  // same turn: the same reading
  EXPECT_EQ(clock.reads(), 1);
  turn.NewTurn();
  turn.NewTurn();  // a turn that asked for no time reads nothing
  EXPECT_EQ(clock.reads(), 1);
  EXPECT_EQ(turn.NowNs(), 2000);
  EXPECT_EQ(turn.NowNs(), 2000);
  EXPECT_EQ(clock.reads(), 2);
}

}  // namespace
}  // namespace lagscale::metrics
