// TargetTracking's backlog overshoot: replicas a panic adds to drain a queue go as soon as the
// queue is gone; what the arrivals themselves need stays for the scale-down delay. After that the
// panic holds what the arrivals since it began sustain, until a new signal starts a new panic.
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
    // A burst lasts: every window shorter than the stable one (30 s) reads it, the window of
    // arrivals since the panic began included.
    demand_.long_window_s = 30;
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
  demand_.short_rate = 160;  // a second surge: 32 in flight steady, lasting 1 s
  demand_.short_concurrency = 32;
  demand_.inflight = 32;
  ASSERT_GT(Step(12).desired, 32);
  demand_.Steady(4, 20);
  double dropped_at = -1;
  for (double t = 13; t < 200 && dropped_at < 0; t += 0.5) {
    if (Step(t).desired < 32) dropped_at = t;
  }
  EXPECT_GE(dropped_at, 12 + 60 - 0.5);
  EXPECT_LE(dropped_at, 12 + 60 + 1) << "the scale-down delay was doubled";
}

// A surge after the release is a new panic: it sizes for the queue that builds until its own
// replicas can be ready (ten more seconds), as the first one did, instead of for the arrivals
// alone on top of a floor sized for the first surge.
TEST_F(BacklogOvershootTest, ASurgeAfterTheReleaseIsANewPanic) {
  PanicIntoBacklog();
  demand_.inflight = 17;
  Step(11);
  ASSERT_EQ(Step(11.25).desired, 16);
  demand_.short_rate = 160;  // 32 in flight steady: 8 above the 24 that 16 replicas serve at 1.5x
  demand_.short_concurrency = 32;
  demand_.inflight = 32;
  // 8 / 0.2 s = 40 requests/s more than served, for 10 s: 400 queued x 0.1 slot each.
  EXPECT_EQ(Step(12).desired, 32 + 40);
}

// Once released, the panic holds what the arrivals since it began sustain: a short window reading
// a few more requests (a clump, not a signal: below twice the capacity, nothing queueing) adds
// nothing, where sizing each decision on it added a replica and took it away a moment later.
TEST_F(BacklogOvershootTest, ReleasedPanicIgnoresShortWindowNoise) {
  PanicIntoBacklog();
  demand_.mid_from_s = 2;  // arrivals since the panic began: still the burst's 80/s
  demand_.mid_rate = 80;
  demand_.inflight = 17;
  Step(11);
  ASSERT_EQ(Step(11.25).desired, 16);
  demand_.short_rate = 95;  // 19 in flight for a moment
  demand_.inflight = 19;
  EXPECT_EQ(Step(11.5).desired, 16);
  demand_.short_rate = 80;
  demand_.inflight = 16;
  EXPECT_EQ(Step(11.75).desired, 16);
}

// The average concurrency over the panic window still holds the queue that just drained: it keeps
// the panic going (KPA), but it is not a new signal, so the released replicas are not started
// again for a queue that is gone.
TEST_F(BacklogOvershootTest, DrainedQueueInTheAverageIsNotANewPanic) {
  PanicIntoBacklog();
  demand_.inflight = 16 + 500;
  Step(11);
  demand_.inflight = 17;
  demand_.short_concurrency = 300;  // the last 2 s still average the queue
  Step(14);
  EXPECT_EQ(Step(14.25).desired, 16);
  EXPECT_EQ(Step(14.5).desired, 16);
}

// Whether the queue has drained is read against what the arrivals since the panic began keep in
// flight, not against the last two seconds: for 6 s requests those hold a handful of arrivals, and
// a busy pair of seconds made a standing queue look like noise, so the panic let go of replicas
// that were still starting and had to start them again (issue 20, llm_tokens).
TEST_F(BacklogOvershootTest, ABusyShortWindowDoesNotHideAQueue) {
  // 6 s requests at 1/s learned while calm: 6 in flight, 9 replicas at target 1 (one Poisson
  // standard deviation of headroom for seconds-long requests).
  demand_.Steady(6, 1);
  ASSERT_EQ(Step(0).desired, 9);
  demand_.short_rate = 3;  // a step to 3/s: 18 in flight steady, 19 now
  demand_.short_concurrency = 18;
  demand_.inflight = 19;
  const int panicked = Step(1).desired;
  ASSERT_GT(panicked, 18);
  // Ten seconds on: arrivals since the panic began ran at 1.2/s (7.2 in flight), the last two
  // seconds at 3/s (18), and 14 are in flight: 7 more than the arrivals keep there.
  demand_.mid_from_s = 2;
  demand_.mid_rate = 1.2;
  demand_.inflight = 14;
  EXPECT_EQ(Step(11).desired, panicked) << "a queue of 7 at 7.2 in flight is not Poisson noise";
  demand_.inflight = 8;  // now it has drained
  EXPECT_LT(Step(12).desired, panicked);
}

}  // namespace
}  // namespace lagscale::coordinator
