#include "lagscale/base/clock.h"

#include <gtest/gtest.h>

namespace lagscale::base {
namespace {

TEST(ManualClockTest, MovesOnlyWhenToldAndBothReadingsTogether) {
  ManualClock clock(5'000, 1'000'000);
  EXPECT_EQ(clock.MonotonicNs(), 5'000);
  EXPECT_EQ(clock.UnixNs(), 1'000'000);
  clock.AdvanceNs(250);
  clock.AdvanceSeconds(0.5);
  EXPECT_EQ(clock.MonotonicNs(), 5'000 + 250 + 500'000'000);
  EXPECT_EQ(clock.UnixNs(), 1'000'000 + 250 + 500'000'000);
}

TEST(SystemClockTest, MonotonicNeverGoesBackAndUnixIsAfter2020) {
  const Clock& clock = SystemClock::Get();
  const int64_t first = clock.MonotonicNs();
  EXPECT_GE(clock.MonotonicNs(), first);
  EXPECT_GT(clock.UnixNs(), int64_t{1'577'836'800} * 1'000'000'000);  // 2020-01-01
}

}  // namespace
}  // namespace lagscale::base
