// TargetTracking's panic for seconds-long requests (longer than half the panic window: LLM
// answers): its short window's arrivals confirmed by the requests in flight, a rise of the arrivals
// that fills the replicas, what the scale-down delay remembers of a panic, and the window after
// it, a rule for every request length that the LLM traces called for.
#include <gtest/gtest.h>

#include <string>

#include "lagscale/coordinator/policy.h"
#include "support/policy_target_tracking.h"

namespace lagscale::coordinator {
namespace {

using testing::LongRequestsTest;

// A 2 s clump of arrivals projects to a whole request time of load: 12 arrivals of 6 s answers
// where 4 were expected read as 36 in flight, twice the capacity of 16 replicas. The requests in
// flight show a real rise within the window; short of 1.5x the capacity, there is no panic.
TEST_F(LongRequestsTest, ArrivalsPanicOnlyWithTheRequestsInFlight) {
  demand_.Steady(12, 2);
  ASSERT_EQ(Decide(0, 16).desired, 16);
  demand_.short_rate = 6;
  demand_.inflight = 20;
  Decision d = Decide(1, 16);
  EXPECT_EQ(d.reason.find("panic"), std::string::npos) << d.reason;
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  demand_.inflight = 24;
  d = Decide(2, 16);
  EXPECT_NE(d.reason.find("panic"), std::string::npos) << d.reason;
  EXPECT_EQ(d.direction, Direction::kUp) << d.reason;
}

// A step of the arrivals that twice the capacity does not see: 2.5/s of 6 s answers (15 in flight,
// 19 replicas with the headroom), then 6/s. Ten seconds in, the short window asks for 36
// and 30 are in flight: over the 28.5 the 19 replicas hold at full capacity, short of the 38 that
// twice the capacity asks for a panic. The stable window's 110 arrivals against 75 in the window
// before are 2.6 standard deviations of their difference: a rise, not noise. The panic sizes on
// the arrivals, 36 in flight and the queue that builds over a 10 s start-up, where the stable
// window would size on what it averages (25).
class RiseThatFillsTest : public LongRequestsTest {
 protected:
  RiseThatFillsTest() { config_.tracking.startup_delay_s = 10; }
  Decision StepToSix(double arrivals_before) {
    demand_.trend_window_s = 2 * config_.tracking.stable_window_s;
    demand_.Steady(15, 2.5);
    demand_.trend_concurrency = 15;
    EXPECT_EQ(Decide(0, 19).desired, 19);
    demand_.stable_concurrency = 20;
    demand_.stable_rate = 110.0 / 30;
    demand_.trend_rate = (arrivals_before + 110) / 60;
    demand_.trend_concurrency = 17.5;
    demand_.short_rate = 6;
    demand_.short_concurrency = demand_.inflight = 30;
    return Decide(10, 19);
  }
};

TEST_F(RiseThatFillsTest, PanicsBelowTwiceTheCapacity) {
  const Decision d = StepToSix(75);
  EXPECT_NE(d.reason.find("panic"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("vs 1.5x capacity of 19; arrivals rose beyond noise"), std::string::npos)
      << d.reason;
  EXPECT_GE(d.desired, 36) << d.reason;
}

// The same window after 95 arrivals instead of 75: 15 more than the window before is 1.1
// standard deviations, a clump or longer answers at the same rate. The stable window sizes it.
TEST_F(RiseThatFillsTest, ArrivalsWithinNoiseLeaveItToTheStableWindow) {
  const Decision d = StepToSix(95);
  EXPECT_EQ(d.reason.find("panic"), std::string::npos) << d.reason;
  EXPECT_EQ(d.direction, Direction::kUp) << d.reason;
  EXPECT_LT(d.desired, 36) << d.reason;
}

// What the scale-down delay remembers of a panic of seconds-long requests is what its arrivals
// sustain, not its short windows: 2 s of 6 s answers hold a dozen arrivals, and a clump of 26
// where 12 were due reads as 63 replicas' worth net of its noise. A step from 2/s to 6/s of 6 s
// answers that opens with that clump is released to the 36 that 6/s keeps in flight.
TEST_F(LongRequestsTest, APanicRemembersWhatItsArrivalsSustainNotAClump) {
  config_.tracking.startup_delay_s = 10;
  demand_.Steady(12, 2);
  int current = Decide(0, 16).desired;
  ASSERT_EQ(current, 16);
  demand_.short_rate = 13;  // the clump: 26 arrivals in the 2 s window
  demand_.short_concurrency = demand_.inflight = 26;
  current = Decide(1, current).desired;
  ASSERT_GT(current, 63);
  demand_.Steady(36, 6);  // the step itself, its queue served by the panic's replicas
  Decision d;
  for (double t = 2; t <= 12; t += 1) {
    d = Decide(t, current);
    current = d.desired;
  }
  EXPECT_EQ(d.desired, 36) << d.reason;
}

// For one stable window after a panic, its concurrency still holds the queue the panic drained:
// it is sized on its arrivals x the time per request learned before the panic (32/s x 0.5 s = 16),
// not on the 24 it averages, and nothing is learned from it. A window later, 24 is the load.
TEST_F(LongRequestsTest, TheWindowAfterAPanicIsSizedOnArrivals) {
  demand_.Steady(4, 8);  // 0.5 s per request
  ASSERT_EQ(Decide(0, 4).desired, 4);
  demand_.short_rate = 32;
  demand_.short_concurrency = 16;
  demand_.inflight = 16;
  ASSERT_EQ(Decide(1, 4).direction, Direction::kUp);
  demand_.stable_rate = 32;
  int current = 16;
  for (double t = 2; t < 33; t += 1) current = Decide(t, current).desired;
  ASSERT_EQ(current, 16);
  demand_.stable_concurrency = 24;  // the window averages the queue that built and drained
  Decision d = Decide(34, 16);
  EXPECT_EQ(d.desired, 16) << d.reason;
  d = Decide(70, 16);
  EXPECT_EQ(d.desired, 24) << d.reason;
}

}  // namespace
}  // namespace lagscale::coordinator
