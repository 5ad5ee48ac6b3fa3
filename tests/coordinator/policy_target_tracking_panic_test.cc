// TargetTracking's panic mode: a burst scales up at once, sized on arrivals and the time per
// request learned before it, bounded by the scale-up rate, and blocks scale-down while it lasts.
#include <gtest/gtest.h>

#include <string>

#include "lagscale/coordinator/policy.h"
#include "support/policy_target_tracking.h"

namespace lagscale::coordinator {
namespace {

using testing::LevelDemand;
using testing::TargetTrackingTest;

TEST_F(TargetTrackingTest, PanicScalesUpAtOnceOnRequestsInFlight) {
  demand_.Steady(1, 10);  // 0.1 s per request, learned while calm
  ASSERT_EQ(Decide(0, 1).desired, 1);
  // The averages have not moved yet, but 8 requests are in flight and 40 rps arrive.
  demand_.short_rate = 40;
  demand_.inflight = 8;
  Decision d = Decide(0.25, 1);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_GE(d.desired, 4);  // 40 rps x 0.1 s = 4, plus the queue to drain
  EXPECT_EQ(d.reason.rfind("panic", 0), 0u) << d.reason;
}

TEST_F(TargetTrackingTest, PanicSizesOnArrivalsNotOnTheQueueThatBuildsWhileStarting) {
  demand_.Steady(1, 10);
  Decide(0, 1);
  demand_.short_rate = 40;
  demand_.inflight = 8;
  const int first = Decide(0.25, 1).desired;
  // Replicas are starting; the queue keeps growing but the arrival rate does not.
  demand_.inflight = 12;
  demand_.short_concurrency = 10;
  Decision d = Decide(1.0, first);
  EXPECT_LE(d.desired, first + 1) << d.reason;
  EXPECT_LT(d.desired, 12) << "sized on the queue: " << d.reason;
}

TEST_F(TargetTrackingTest, PanicBlocksScaleDown) {
  demand_.Steady(1, 10);
  Decide(0, 1);
  demand_.short_rate = 80;
  demand_.inflight = 8;
  const int peak = Decide(0.25, 1).desired;
  ASSERT_GE(peak, 8);
  demand_.Steady(0.5, 5);  // the burst is over at once
  for (double t = 1; t < 30; t += 1) {
    Decision d = Decide(t, peak);
    ASSERT_EQ(d.desired, peak) << "t=" << t << " " << d.reason;
    ASSERT_EQ(d.direction, Direction::kHold);
  }
}

// 6 s requests queued during a burst: each needs one more slot to start at once, not the three
// (6 s / 2 s drain) that would drain it within backlogDrain if that were possible.
TEST_F(TargetTrackingTest, PanicAddsAtMostOneSlotPerQueuedRequest) {
  config_.max_replicas = 100;
  demand_.Steady(12, 2);                 // 6 s per request learned on a calm window
  EXPECT_EQ(Decide(0, 12).desired, 16);  // 12 plus one Poisson standard deviation of headroom
  demand_.short_rate = 6;                // 36 in flight steady, plus 12 queued
  demand_.short_concurrency = 36;
  demand_.inflight = 48;
  const Decision d = Decide(1, 12);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_EQ(d.desired, 48);  // (36 + 12 x 1) / target 1
}

// With the start-up delay known, a panic sizes at once for the queue that will have built up by
// the time its first replicas are ready, and counts less of it as that time comes closer.
TEST_F(TargetTrackingTest, PanicSizesForTheQueueBuiltDuringTheStartupDelay) {
  config_.max_replicas = 100;
  config_.max_scale_up_rate = 100;
  config_.tracking.startup_delay_s = 10;
  demand_.Steady(4, 20);  // 0.2 s per request at 4 replicas
  EXPECT_EQ(Decide(0, 4).desired, 4);
  // 16 in flight steady: 10 above the 1.5 x target that 4 replicas serve without a queue.
  demand_.short_rate = 80;
  demand_.short_concurrency = 16;
  demand_.inflight = 16;
  // 10 / 0.2 s = 50 requests/s queue up for 10 s: 500 queued, 0.1 slot each to drain in 2 s.
  EXPECT_EQ(Decide(1, 4).desired, 16 + 50);
  demand_.inflight = 16 + 250;  // 5 s later, half of it is here and half still to come
  EXPECT_EQ(Decide(6, 66).desired, 66);
  demand_.inflight = 16 + 500;  // at the start-up delay: all of it is here
  EXPECT_EQ(Decide(11, 66).desired, 66);
}

// Steady 0.5 s requests (one in flight), then a burst to 12 in flight: the time per request must
// not be learned from the burst's first moments (which read 0.116 s and settled at 4 replicas).
TEST_F(TargetTrackingTest, BurstIsSizedOnTheTimePerRequestLearnedBeforeIt) {
  config_.max_replicas = 20;
  config_.max_scale_up_rate = 100;
  config_.tracking.stable_window_s = 2;
  config_.tracking.panic_window_s = 1;
  config_.tracking.scale_down_delay_s = 1;
  config_.tracking.max_scale_down_delay_s = 1;
  policy_ = MakeModelPolicy(config_);
  LevelDemand pods;
  int current = 1;
  pods.Hold(1, 10);
  for (double t = 0.1; t <= 10; t += 0.1) ASSERT_EQ(Decide(pods, t, current).desired, 1);
  const double burst = pods.now();
  int reached_at_ms = -1, peak = 0;
  for (int i = 1; i <= 60; ++i) {  // 6 s of burst, a decision every 100 ms
    pods.Hold(12, burst + i * 0.1);
    const Decision d = Decide(pods, pods.now(), current);
    ASSERT_LE(d.desired, 20) << d.reason;
    peak = std::max(peak, d.desired);
    if (reached_at_ms < 0 && d.desired >= 12) reached_at_ms = i * 100;
    current = d.desired;  // the target follows at once
  }
  ASSERT_GT(reached_at_ms, 0) << "peak " << peak;
  EXPECT_LE(reached_at_ms, 1000);
  EXPECT_EQ(current, 12) << "settles on what 12 in flight need at target 1";
}

TEST_F(TargetTrackingTest, BurstStepIsBoundedByTheScaleUpRate) {
  config_.max_replicas = 20;
  config_.max_scale_up_rate = 3;
  config_.tracking.stable_window_s = 2;
  config_.tracking.panic_window_s = 1;
  policy_ = MakeModelPolicy(config_);
  LevelDemand pods;
  pods.Hold(1, 10);
  for (double t = 0.1; t <= 10; t += 0.1) Decide(pods, t, 1);
  pods.Hold(12, pods.now() + 0.2);
  const Decision d = Decide(pods, pods.now(), 1);
  EXPECT_EQ(d.desired, 3) << d.reason;
  EXPECT_NE(d.reason.find("limited"), std::string::npos) << d.reason;
}

}  // namespace
}  // namespace lagscale::coordinator
