// TargetTracking's scale-down delay: the stabilization window and the rate limit down, a slow
// fall that goes without it, what it remembers of a short window, and how reversals and returns
// lengthen it (flap damping). The steady sizing is in policy_target_tracking_test.cc.
#include <gtest/gtest.h>

#include <string>

#include "lagscale/coordinator/policy.h"
#include "support/policy_target_tracking.h"

namespace lagscale::coordinator {
namespace {

using testing::TargetTrackingTest;

TEST_F(TargetTrackingTest, ScaleDownWaitsForStabilizationWindowAndIsRateLimited) {
  demand_.Steady(4, 40);
  ASSERT_EQ(Decide(0, 4).direction, Direction::kHold);
  demand_.Steady(1, 10);
  Decision held = Decide(10, 4);
  EXPECT_EQ(held.desired, 4);
  EXPECT_EQ(held.direction, Direction::kHold);
  EXPECT_NE(held.reason.find("held"), std::string::npos) << held.reason;
  EXPECT_EQ(Decide(59, 4).desired, 4);  // the recommendation of 4 at t=0 is still in the window
  Decision d = Decide(61, 4);
  EXPECT_EQ(d.direction, Direction::kDown);
  EXPECT_EQ(d.desired, 2);  // wants 1, may at most halve
  EXPECT_NE(d.reason.find("limited"), std::string::npos) << d.reason;
}

// A slow fall: 4 replicas held at a steady 4 in flight at t=0, then the stable window reads
// `stable` from `rate` requests/s while the two stable windows ending now read `trend`.
class SlowFallTest : public TargetTrackingTest {
 protected:
  void FallTo(double stable, double rate, double trend) {
    demand_.trend_window_s = 2 * config_.tracking.stable_window_s;
    demand_.Steady(4, 400);
    demand_.trend_concurrency = 4;
    ASSERT_EQ(Decide(0, 4).direction, Direction::kHold);
    demand_.Steady(stable, rate);
    demand_.trend_concurrency = trend;
  }
};

// The diurnal trace's afternoon: the stable window needs one replica fewer, beyond its noise, and
// reads less than the two windows ending now. That replica goes at once instead of after the
// scale-down delay, and only that one: the next step waits for the delay again.
TEST_F(SlowFallTest, StepsDownOneReplicaWithoutTheDelay) {
  FallTo(2.8, 280, 3.4);  // 3 replicas; 8,400 arrivals in 30 s: noise under 1 %
  Decision d = Decide(10, 4);
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
  EXPECT_EQ(d.desired, 3);
  EXPECT_NE(d.reason.find("slow fall"), std::string::npos) << d.reason;
  demand_.Steady(1.8, 180);
  demand_.trend_concurrency = 2.3;
  d = Decide(12, 3);  // 4 was recommended 12 s ago: the delay holds the next step
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_EQ(d.desired, 3);
}

// The same reading from few arrivals is within their noise (600 in 30 s: 4 standard deviations are
// 16 %, and 2.85 x 1.16 needs the 4 replicas there are): the delay holds.
TEST_F(SlowFallTest, WithinTheWindowsNoiseWaitsForTheDelay) {
  FallTo(2.85, 20, 3.4);
  EXPECT_EQ(Decide(10, 4).direction, Direction::kHold);
  EXPECT_EQ(Decide(61, 4).desired, 3);
}

// Load rising into a count that was held (the stable window above the two ending now) is not a
// fall, however low the stable window still reads: the delay holds (on/off, a burst returning).
TEST_F(SlowFallTest, RisingLoadBelowTheHeldCountWaitsForTheDelay) {
  FallTo(2.8, 280, 2.0);
  EXPECT_EQ(Decide(10, 4).direction, Direction::kHold);
}

// The stable windows read a slow fall, but the short window already needs the count there is
// (load turning up again): the delay holds.
TEST_F(SlowFallTest, TurningUpAgainWaitsForTheDelay) {
  FallTo(2.8, 280, 3.4);
  demand_.short_concurrency = 3.5;
  EXPECT_EQ(Decide(10, 4).direction, Direction::kHold);
}

// Flap damping's cases share a start: a 10 s delay (up to 100 s), 4 replicas at a steady 4 in
// flight, then the load halves and, the delay past, the decision at 11 s asks for 2. The 4 was
// last needed at 1 s: load back by 14 s was away 13 s, and 1.25 x 13 s is less than the doubled
// delay.
class FlapDampingTest : public TargetTrackingTest {
 protected:
  Decision DownFrom4() {
    config_.tracking.panic_threshold = 1000;
    config_.tracking.scale_down_delay_s = 10;
    config_.tracking.max_scale_down_delay_s = 100;
    demand_.Steady(4, 40);
    Decide(0, 4);
    demand_.Steady(2, 20);
    return Decide(11, 4);
  }
};

TEST_F(FlapDampingTest, ReversalLengthensTheNextScaleDownDelay) {
  EXPECT_EQ(DownFrom4().direction, Direction::kDown);  // 10 s later: down to 2
  demand_.Steady(4, 40);
  EXPECT_EQ(Decide(14, 2).direction, Direction::kUp);  // a reversal: the delay doubles to 20 s
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(25, 4).direction, Direction::kHold);  // 11 s: enough before, not now
  EXPECT_EQ(Decide(35, 4).direction, Direction::kDown);
}

// A burst's panic steps up several times after one scale-down: that is one reversal, so the
// delay doubles once (it went to its maximum, holding capacity for 600 s, in issue 20).
TEST_F(FlapDampingTest, ScaleUpsAfterOneScaleDownAreOneReversal) {
  EXPECT_EQ(DownFrom4().direction, Direction::kDown);
  demand_.Steady(4, 40);
  EXPECT_EQ(Decide(14, 2).direction, Direction::kUp);  // the reversal: 20 s
  demand_.Steady(6, 60);
  EXPECT_EQ(Decide(15, 4).direction, Direction::kUp);  // the same way: still 20 s
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(34, 6).direction, Direction::kHold);  // 6 recommended 19 s ago
  EXPECT_EQ(Decide(36, 6).direction, Direction::kDown);  // after 20 s, not 40
}

// A scale-down the target never carried out (the replicas stayed at 4) reversed nothing: the
// scale-up after it leaves the delay at 10 s.
TEST_F(FlapDampingTest, AScaleDownThatNeverTookEffectIsNotReversed) {
  ASSERT_EQ(DownFrom4().direction, Direction::kDown);  // asks for 2; the target stays at 4
  demand_.Steady(6, 60);
  ASSERT_EQ(Decide(20, 4).direction, Direction::kUp);
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(31, 6).direction, Direction::kDown);  // 11 s after the 6: the delay is 10 s
}

// Load that comes back 40 s after it left (the scale-down at 11 waited out the 10 s delay: the 4
// was last needed at 1) holds its next fall for 1.25 x 40 = 50 s, not the doubled 20 s: a burst
// that returns on the same period finds its replicas (issue 20, LLM on/off).
TEST_F(FlapDampingTest, AReturnHoldsTheNextFallLongerThanTheLoadWasAway) {
  ASSERT_EQ(DownFrom4().direction, Direction::kDown);
  demand_.Steady(4, 40);
  ASSERT_EQ(Decide(41, 2).direction, Direction::kUp);  // the reversal, 40 s after the load left
  demand_.Steady(2, 20);
  const Decision held = Decide(62, 4);  // 21 s after the last 4: past a doubled delay
  EXPECT_EQ(held.direction, Direction::kHold) << held.reason;
  EXPECT_NE(held.reason.find("within the last 50s"), std::string::npos) << held.reason;
  EXPECT_EQ(Decide(90, 4).direction, Direction::kHold);
  EXPECT_EQ(Decide(92, 4).direction, Direction::kDown);  // 51 s after it
}

// A slow fall (one replica without the delay) sees the load leave when it is taken: a return
// right after it is the noise of a slow decline, and the delay only doubles, however long ago
// the first scale-down of the decline waited out its delay (the diurnal trace's evening, where
// 18 minutes of decline once made a bump hold for the longest delay, 600 s).
TEST_F(SlowFallTest, AReturnRightAfterASlowFallOnlyDoublesTheDelay) {
  demand_.trend_window_s = 2 * config_.tracking.stable_window_s;
  demand_.Steady(4, 400);
  demand_.trend_concurrency = 4;
  ASSERT_EQ(Decide(0, 4).direction, Direction::kHold);
  demand_.Steady(3, 300);
  demand_.trend_concurrency = 3;
  ASSERT_EQ(Decide(10, 4).direction, Direction::kHold);  // held by the 60 s delay
  ASSERT_EQ(Decide(61, 4).direction, Direction::kDown);  // the 4 was last needed at 1
  ASSERT_EQ(Decide(100, 3).direction, Direction::kHold);
  demand_.Steady(1.8, 180);
  demand_.trend_concurrency = 2.3;
  const Decision slow = Decide(150, 3);
  ASSERT_EQ(slow.direction, Direction::kDown) << slow.reason;
  ASSERT_NE(slow.reason.find("slow fall"), std::string::npos) << slow.reason;
  demand_.Steady(3, 300);
  demand_.trend_concurrency = 3;
  ASSERT_EQ(Decide(170, 2).direction, Direction::kUp);  // 20 s after the slow fall
  demand_.Steady(1.8, 180);
  demand_.trend_concurrency = 1.8;
  const Decision down = Decide(291, 3);  // 121 s after the last 3: the delay doubled to 120 s
  EXPECT_EQ(down.direction, Direction::kDown) << down.reason;
}

// The scale-down delay remembers what each short window needed. For requests much shorter than
// the window, a window one Poisson standard deviation above the load (68 arrivals in 2 s where 60
// is the mean) was served inside it: it does not hold the replica it would round up to.
TEST_F(TargetTrackingTest, ShortRequestsNoiseInTheShortWindowIsNotRemembered) {
  demand_.Steady(4, 40);  // 0.1 s per request
  ASSERT_EQ(Decide(0, 4).desired, 4);
  demand_.Steady(3, 30);
  demand_.short_rate = 34;  // 68 arrivals over the 2-s window: 3.4 in flight, read as is
  demand_.short_concurrency = 3.4;
  const Decision d = Decide(61, 4);
  EXPECT_EQ(d.desired, 3) << d.reason;
  EXPECT_EQ(d.direction, Direction::kDown);
}

// A burst in the short window, well beyond its noise, is still remembered: the load that
// oscillates stays on its peak.
TEST_F(TargetTrackingTest, ShortRequestsBurstInTheShortWindowIsRemembered) {
  demand_.Steady(4, 40);
  ASSERT_EQ(Decide(0, 4).desired, 4);
  demand_.Steady(3, 30);
  demand_.short_rate = 50;  // 100 arrivals where 60 is the mean: 5 standard deviations
  demand_.short_concurrency = 5;
  EXPECT_EQ(Decide(61, 4).desired, 4);
  demand_.short_rate = 30;
  demand_.short_concurrency = 3;
  EXPECT_EQ(Decide(100, 4).desired, 4);  // remembered for the whole delay
  EXPECT_EQ(Decide(122, 4).desired, 3);  // and let go after it
}

// Load that falls to half the held level or less and comes back while the delay holds it: the
// hold saved a reversal, so the delay doubles as a reversal's would, and the next burst after a
// gap longer than the first delay still finds its replicas (issue 20, the on/off trace).
TEST_F(TargetTrackingTest, ShortRequestsReturningToTheHeldLevelLengthenTheDelay) {
  config_.tracking.panic_threshold = 1000;
  config_.tracking.max_scale_down_delay_s = 600;
  demand_.Steady(8, 80);  // 0.1 s per request
  ASSERT_EQ(Decide(0, 8).desired, 8);
  demand_.Steady(2, 20);
  ASSERT_EQ(Decide(10, 8).direction, Direction::kHold);  // held by the 60 s delay
  demand_.Steady(8, 80);
  ASSERT_EQ(Decide(30, 8).direction, Direction::kHold);  // back: the hold saved a reversal
  demand_.Steady(2, 20);
  const Decision held = Decide(100, 8);  // 70 s after the last 8: the delay is now 120 s
  EXPECT_EQ(held.direction, Direction::kHold) << held.reason;
  EXPECT_NE(held.reason.find("120s"), std::string::npos) << held.reason;
  EXPECT_EQ(Decide(151, 8).direction, Direction::kDown);
}

// A dip of less than half the held level is the load's own wobble: the delay stays as it is.
TEST_F(TargetTrackingTest, ShortRequestsShallowDipDoesNotLengthenTheDelay) {
  config_.tracking.panic_threshold = 1000;
  config_.tracking.max_scale_down_delay_s = 600;
  demand_.Steady(8, 80);
  ASSERT_EQ(Decide(0, 8).desired, 8);
  demand_.Steady(5, 50);
  ASSERT_EQ(Decide(10, 8).direction, Direction::kHold);
  demand_.Steady(8, 80);
  ASSERT_EQ(Decide(30, 8).direction, Direction::kHold);
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(91, 8).direction, Direction::kDown);  // 61 s after the last 8
}

// With requests as long as the short window, its readings carry their noise, and a level that a
// noise panic left held is reached again by a rise rather than a return: the delay stays. (A fall
// from 11 to 4 replicas is a deep fall, which waits out twice the delay, 120 s, whatever the
// returns: two returns that each doubled the delay would hold it for 240 s.)
TEST_F(TargetTrackingTest, LongRequestsReturningToTheHeldLevelKeepTheDelay) {
  config_.max_replicas = 20;
  config_.tracking.panic_threshold = 1000;
  config_.tracking.max_scale_down_delay_s = 600;
  demand_.Steady(8, 8.0 / 6);  // 6 s per request: 8 in flight plus 2.8 of headroom
  ASSERT_EQ(Decide(0, 11).desired, 11);
  for (double back : {30, 60}) {
    demand_.Steady(2, 2.0 / 6);
    ASSERT_EQ(Decide(back - 20, 11).direction, Direction::kHold);
    demand_.Steady(8, 8.0 / 6);
    ASSERT_EQ(Decide(back, 11).direction, Direction::kHold);
  }
  demand_.Steady(2, 2.0 / 6);
  const Decision d = Decide(181, 11);  // 121 s after the last 8
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
}

}  // namespace
}  // namespace lagscale::coordinator
