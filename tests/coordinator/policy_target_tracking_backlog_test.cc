// TargetTracking's backlog overshoot: replicas a panic adds to drain a queue go as soon as the
// queue is gone; what the arrivals themselves need stays for the scale-down delay.
#include <gtest/gtest.h>

#include "lagscale/coordinator/policy.h"
#include "support/policy_target_tracking.h"

namespace lagscale::coordinator {
namespace {

// The shared target-tracking settings, with room to scale and a known 10 s start-up delay.
class BacklogOvershootTest : public testing::TargetTrackingTest {
 protected:
  BacklogOvershootTest() {
    config_.max_replicas = 100;
    config_.max_scale_up_rate = 100;
    config_.tracking.startup_delay_s = 10;
  }

  // Decides at `now` and lets the replicas follow at once, as the test's only actuator.
  Decision Step(double now) {
    const Decision d = Decide(now, current_);
    current_ = d.desired;
    return d;
  }

  // 0.2 s requests: 4 in flight at 20/s learned while calm, then a burst to 80/s (16 in flight
  // steady, 10 above what 4 replicas serve), which queues 500 requests during the 10 s start-up.
  void PanicIntoBacklog() {
    demand_.Steady(4, 20);
    ASSERT_EQ(Step(0).desired, 4);
    demand_.short_rate = 80;
    demand_.short_concurrency = 16;
    demand_.inflight = 16;
    ASSERT_EQ(Step(1).desired, 16 + 50);  // 500 queued x 0.1 slot each, as sized in the panic
  }

  int current_ = 4;
};

TEST_F(BacklogOvershootTest, HeldWhileTheQueueLasts) {
  PanicIntoBacklog();
  demand_.inflight = 16 + 500;  // the start-up is over and the whole queue is there
  EXPECT_EQ(Step(11).desired, 66);
  demand_.inflight = 16 + 40;  // still draining
  EXPECT_EQ(Step(13).desired, 66);
}

TEST_F(BacklogOvershootTest, ReleasedOnceTheQueueHasDrained) {
  PanicIntoBacklog();
  demand_.inflight = 16 + 500;
  Step(11);
  demand_.inflight = 17;  // drained: within Poisson noise of the 16 the arrivals keep in flight
  const Decision first = Step(14);
  EXPECT_EQ(first.direction, Direction::kDown) << first.reason;
  EXPECT_EQ(first.desired, 33);  // halved at most per decision (max_scale_down_rate 2)
  EXPECT_EQ(Step(14.25).desired, 16) << "what 80 requests/s of 0.2 s need at target 1";
  EXPECT_EQ(Step(14.5).desired, 16);
}

TEST_F(BacklogOvershootTest, WhatTheArrivalsNeededStaysForTheScaleDownDelay) {
  PanicIntoBacklog();
  demand_.inflight = 17;
  Step(11);
  Step(11.25);
  ASSERT_EQ(Step(11.5).desired, 16);
  demand_.Steady(4, 20);  // the burst ends
  for (double t = 12; t < 11.5 + 60 - 0.5; t += 1) {
    ASSERT_EQ(Step(t).desired, 16) << "at " << t << " s";
  }
  double dropped_at = -1;
  for (double t = 71; t < 80 && dropped_at < 0; t += 0.25) {
    if (Step(t).desired < 16) dropped_at = t;
  }
  EXPECT_GE(dropped_at, 11.5 + 60 - 0.5);
  EXPECT_LE(dropped_at, 11.5 + 60 + 1);
}

// A clump that starts a panic and is gone a second later: the replicas it started stay until they
// could have been ready (the start-up delay), so a noise panic is not an add-and-remove churn of
// pods inside a second.
TEST_F(BacklogOvershootTest, NotReleasedBeforeItsReplicasCouldBeReady) {
  demand_.Steady(4, 20);
  ASSERT_EQ(Step(0).desired, 4);
  demand_.short_rate = 30;  // 6 in flight steady, 9 now: a queue building, confirmed
  demand_.inflight = 9;
  const int panicked = Step(1).desired;
  ASSERT_GT(panicked, 6);
  demand_.inflight = 6;  // the clump is served
  EXPECT_EQ(Step(2).desired, panicked);
  EXPECT_EQ(Step(10.75).desired, panicked);
  EXPECT_EQ(Step(11).desired, 6) << "released at the start-up delay";
}

// Letting go of a backlog's replicas is not a scale-down that a later scale-up reverses: a second
// surge right after the release keeps the configured 60 s scale-down delay (flap damping would
// double it to 120 s and hold the surge's replicas a minute longer).
TEST_F(BacklogOvershootTest, ReleaseIsNotAReversal) {
  config_.tracking.max_scale_down_delay_s = 600;
  policy_ = MakeModelPolicy(config_);
  PanicIntoBacklog();
  demand_.inflight = 17;
  Step(11);
  ASSERT_EQ(Step(11.25).desired, 16);
  demand_.short_rate = 160;  // a second surge: 32 in flight steady
  demand_.short_concurrency = 32;
  demand_.inflight = 32;
  ASSERT_EQ(Step(12).desired, 32);
  demand_.Steady(4, 20);
  double dropped_at = -1;
  for (double t = 13; t < 200 && dropped_at < 0; t += 0.5) {
    if (Step(t).desired < 32) dropped_at = t;
  }
  EXPECT_GE(dropped_at, 12 + 60 - 0.5);
  EXPECT_LE(dropped_at, 12 + 60 + 1) << "the scale-down delay was doubled";
}

}  // namespace
}  // namespace lagscale::coordinator
