// TargetTracking's steady sizing: concurrency over target within a tolerance, the Poisson floor,
// stale data, bounds, the scale-up rate limit and the decision's reason. The scale-down delay is in
// policy_target_tracking_delay_test.cc, the panic mode in policy_target_tracking_panic_test.cc,
// token-rate sizing in policy_target_tracking_tokens_test.cc.
#include "support/policy_target_tracking.h"

#include <gtest/gtest.h>

#include <string>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator {
namespace {

using testing::TargetTrackingTest;

TEST_F(TargetTrackingTest, ScalesToCeilingOfConcurrencyOverTarget) {
  demand_.Steady(3.5, 35);
  Decision d = Decide(0, 2);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_FALSE(d.reason.empty());
}

// Found by fuzz_report_sequence (UBSan): a concurrency of 1e18 from a broken reporter overflowed
// the cast of the replica count to int. Absurd or NaN demand now stays within the bounds.
TEST_F(TargetTrackingTest, AbsurdDemandStaysWithinMaxReplicas) {
  demand_.Steady(1.2e18, 1e18);
  EXPECT_EQ(Decide(0, 2).desired, config_.max_replicas);
  demand_.Steady(std::nan(""), 1);
  EXPECT_LE(Decide(1, 2).desired, config_.max_replicas);
}

TEST_F(TargetTrackingTest, HoldsWithinTolerance) {
  demand_.Steady(2.15, 21.5);
  Decision d = Decide(0, 2);
  EXPECT_EQ(d.desired, 2);
  EXPECT_EQ(d.direction, Direction::kHold);
  EXPECT_NE(d.reason.find("within"), std::string::npos) << d.reason;
}

// Square-root staffing. At target 2.8 (70 % of 4 slots), 6 in flight is inside 2 replicas' band
// (5.6 + 10 %), but their full capacity, 1.5 x 2.8 = 4.2 each, must hold 6 + 1.75 x sqrt(6) =
// 10.3 in flight: 3 replicas. At 20 in flight the target's 8 replicas hold 20 + 7.8 already.
class PoissonFloorTest : public testing::TargetTrackingTest {
 protected:
  PoissonFloorTest() {
    config_.max_replicas = 100;
    config_.tracking.target_concurrency = 2.8;
    config_.tracking.poisson_headroom = ModelPolicyConfig().tracking.poisson_headroom;
  }
};

TEST_F(PoissonFloorTest, ASmallPoolHoldsItsPoissonPeaks) {
  demand_.Steady(6, 30);  // 0.2 s requests
  const Decision d = Decide(0, 2);
  EXPECT_EQ(d.desired, 3);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_EQ(d.reason,
            "6.0 average concurrency over 30s + 1.75 x its square root for Poisson peaks / 4.2 "
            "per replica at full capacity");
  config_.tracking.poisson_headroom = 0;  // off: the tolerance band holds 2
  policy_.reset();
  EXPECT_EQ(Decide(0, 2).direction, Direction::kHold);
}

// One replica's worth is left to the target: 2 in flight would need 2.47 + 2 = 4.5 slots, more
// than one replica's 4.2, but a second replica for every model with a request or two in flight
// would double the long tail's cost (and the load a burst needs to start a panic).
TEST_F(PoissonFloorTest, AModelTheTargetSizesAtOneReplicaKeepsIt) {
  demand_.Steady(2, 10);
  const Decision d = Decide(0, 1);
  EXPECT_EQ(d.desired, 1) << d.reason;
  EXPECT_EQ(d.direction, Direction::kHold);
}

TEST_F(PoissonFloorTest, ALargePoolIsSizedByItsTarget) {
  demand_.Steady(20, 100);
  EXPECT_EQ(Decide(0, 8).direction, Direction::kHold);
  demand_.Steady(30, 150);  // the floor asks for 10 (30 + 9.6 over 4.2), the target for 11
  const Decision d = Decide(1, 8);
  EXPECT_EQ(d.desired, 11);
  EXPECT_NE(d.reason.find("/ target 2.8"), std::string::npos) << d.reason;
}

// Seconds-long requests have their own headroom (one standard deviation on the demand): 6 s
// answers at 1 rps are 6 + 2.45 = 8.45 in flight, 3 replicas; the floor would ask for 4.
TEST_F(PoissonFloorTest, SecondsLongRequestsKeepTheirOwnHeadroom) {
  demand_.Steady(6, 1);
  const Decision d = Decide(0, 2);
  EXPECT_EQ(d.desired, 3) << d.reason;
  EXPECT_EQ(d.reason.find("Poisson"), std::string::npos) << d.reason;
}

// Requests held open with nothing arriving have no arrival noise to cover: 6 held at target 2.8
// stay inside 2 replicas' band, and no time per request is learned to read a noise from.
TEST_F(PoissonFloorTest, RequestsHeldOpenWithNothingArrivingGetNoFloor) {
  demand_.Steady(6, 0);
  const Decision d = Decide(0, 2);
  EXPECT_EQ(d.desired, 2) << d.reason;
  EXPECT_EQ(d.reason.find("Poisson"), std::string::npos) << d.reason;
}

TEST_F(TargetTrackingTest, StaleDataHoldsLastDecisionAndNeverScalesDown) {
  demand_.Steady(3.5, 35);
  ASSERT_EQ(Decide(0, 2).desired, 4);
  demand_.Steady(0, 0);  // what a silent pod would look like
  demand_.fresh = false;
  Decision d = Decide(100, 4);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.direction, Direction::kHold);
  EXPECT_NE(d.reason.find("stale"), std::string::npos) << d.reason;
}

TEST_F(TargetTrackingTest, StaleDataNeverGoesBelowWhatTheTargetHasNow) {
  demand_.Steady(3.5, 35);
  ASSERT_EQ(Decide(0, 2).desired, 4);
  demand_.fresh = false;
  Decision d = Decide(1, 6);  // scaled further by someone else meanwhile
  EXPECT_EQ(d.desired, 6);
  EXPECT_EQ(d.direction, Direction::kHold);
}

TEST_F(TargetTrackingTest, RestartedPodWithoutHistoryHoldsCurrentSize) {
  // A restarted pod reports counters from zero: the view says not fresh and nothing was decided.
  demand_.fresh = false;
  Decision d = Decide(0, 5);
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.direction, Direction::kHold);
}

TEST_F(TargetTrackingTest, ScaleUpIsRateLimited) {
  config_.tracking.panic_threshold = 1000;  // stay on the stable path
  config_.max_scale_up_rate = 3;
  demand_.Steady(9, 90);
  Decision d = Decide(0, 2);
  EXPECT_EQ(d.desired, 6);
  EXPECT_NE(d.reason.find("limited"), std::string::npos) << d.reason;
}

TEST_F(TargetTrackingTest, StaysWithinBounds) {
  config_.tracking.panic_threshold = 1000;
  config_.max_scale_up_rate = 100;
  demand_.Steady(50, 500);
  EXPECT_EQ(Decide(0, 5).desired, 10);
  config_.tracking.scale_down_delay_s = 0;
  config_.tracking.max_scale_down_rate = 100;
  policy_.reset();
  demand_.Steady(0, 0);
  EXPECT_EQ(Decide(0, 5).desired, 1);
}

TEST_F(TargetTrackingTest, ScalesUpFromZeroOnAnyDemand) {
  config_.min_replicas = 0;
  demand_.inflight = 1;
  Decision d = Decide(0, 0);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_GE(d.desired, 1);
}

// A measured 1.0002 at target 1 is one replica: the tolerance applies to the rounding too, not
// only around the current count (which once left it at 2 for good after a scale-down).
TEST_F(TargetTrackingTest, ExactMultipleWithNoiseDoesNotRoundUp) {
  demand_.Steady(1.0002, 10.002);
  for (double t = 0; t < 120; t += 0.25) {
    const Decision d = Decide(t, 1);
    ASSERT_EQ(d.desired, 1) << "t=" << t << " " << d.reason;
    ASSERT_EQ(d.direction, Direction::kHold);
  }
}

TEST_F(TargetTrackingTest, ExactMultipleWithNoiseComesDownToIt) {
  demand_.Steady(4, 40);
  ASSERT_EQ(Decide(0, 4).desired, 4);
  demand_.Steady(1.0002, 10.002);
  int current = 4;
  for (double t = 0.25; t < 300; t += 0.25) current = Decide(t, current).desired;
  EXPECT_EQ(current, 1);
  demand_.Steady(1.2, 12);  // beyond the tolerance: one more replica
  EXPECT_EQ(Decide(300, 1).desired, 2);
}

// The reason is built only when the cause or the outcome changes, but a repeated hold still
// carries one, and a new cause gets a new one.
TEST_F(TargetTrackingTest, RepeatedHoldKeepsItsReasonAndANewCauseGetsItsOwn) {
  demand_.Steady(2.05, 20.5);
  for (double t = 0; t < 5; t += 0.25) {
    const Decision d = Decide(t, 2);
    ASSERT_EQ(d.direction, Direction::kHold);
    ASSERT_EQ(d.reason.rfind("hold: ", 0), 0u) << d.reason;
    ASSERT_NE(d.reason.find("within"), std::string::npos) << d.reason;
  }
  demand_.Steady(1, 10);
  const Decision held = Decide(10, 2);
  EXPECT_EQ(held.desired, 2);
  EXPECT_NE(held.reason.find("scale-down held: 2"), std::string::npos) << held.reason;
  demand_.fresh = false;
  EXPECT_NE(Decide(11, 2).reason.find("stale"), std::string::npos);
}

}  // namespace
}  // namespace lagscale::coordinator
