#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lagscale/coordinator/policy.h"
#include "support/policy_fake_demand.h"

namespace lagscale::coordinator {
namespace {

using testing::FakeDemand;

// Pods that hold `level` requests of kServiceS each in flight, like the coordinator's integration
// test: requests arrive and complete at level / kServiceS per second (Little's law), and a step up
// in the level arrives at once (spread over one 100 ms report). Windows are exact sums over 10 ms
// steps, as the aggregator's are over its buckets.
class LevelDemand : public DemandView {
 public:
  static constexpr double kStep = 0.01, kServiceS = 0.5;
  // Advances to `until` seconds holding `level` in flight (a step is spread over 100 ms).
  void Hold(double level, double until) {
    const double from = level_;
    const int ramp = level > from ? 10 : 1;
    for (int i = 0; now() < until - kStep / 2; ++i) {
      const double l = i < ramp ? from + (level - from) * (i + 1) / ramp : level;
      busy_.push_back(l * kStep);
      arrivals_.push_back(l * kStep / kServiceS +
                          (i < ramp && level > from ? (level - from) / ramp : 0));
      level_ = l;
    }
  }
  double now() const { return static_cast<double>(busy_.size()) * kStep; }
  double AverageConcurrency(double w) const override { return Sum(busy_, w) / w; }
  double Inflight() const override { return level_; }
  double ArrivalRate(double w) const override { return Sum(arrivals_, w) / w; }
  double IdleSeconds() const override { return 0; }
  double TokenRate(double) const override { return 0; }
  bool Fresh() const override { return true; }

 private:
  static double Sum(const std::vector<double>& v, double w) {
    const size_t n = std::min(v.size(), static_cast<size_t>(std::lround(w / kStep)));
    double sum = 0;
    for (size_t i = v.size() - n; i < v.size(); ++i) sum += v[i];
    return sum;
  }
  std::vector<double> busy_, arrivals_;
  double level_ = 0;
};

class TargetTrackingTest : public ::testing::Test {
 protected:
  TargetTrackingTest() {
    config_.min_replicas = 1;
    config_.max_replicas = 10;
    config_.tracking.target_concurrency = 1;
    config_.tracking.tolerance = 0.1;
    config_.tracking.stable_window_s = 30;
    config_.tracking.panic_window_s = 2;
    config_.tracking.panic_threshold = 2;
    config_.tracking.scale_down_delay_s = 60;
    config_.max_scale_up_rate = 10;
    config_.tracking.max_scale_down_rate = 2;
  }

  Decision Decide(double now, int current) { return Decide(demand_, now, current); }
  Decision Decide(const DemandView& demand, double now, int current) {
    if (!policy_) policy_ = MakeModelPolicy(config_);
    return policy_->Decide(ModelContext{now, current, demand});
  }

  ModelPolicyConfig config_;
  FakeDemand demand_;
  std::unique_ptr<ModelPolicy> policy_;
};

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

TEST_F(TargetTrackingTest, ReversalLengthensTheNextScaleDownDelay) {
  config_.tracking.panic_threshold = 1000;
  config_.tracking.scale_down_delay_s = 10;
  config_.tracking.max_scale_down_delay_s = 100;
  demand_.Steady(4, 40);
  Decide(0, 4);
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(11, 4).direction, Direction::kDown);  // 10 s later: down to 2
  demand_.Steady(4, 40);
  EXPECT_EQ(Decide(20, 2).direction, Direction::kUp);  // a reversal: the delay doubles to 20 s
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(31, 4).direction, Direction::kHold);  // 11 s: enough before, not now
  EXPECT_EQ(Decide(41, 4).direction, Direction::kDown);
}

// A burst's panic steps up several times after one scale-down: that is one reversal, so the
// delay doubles once (it went to its maximum, holding capacity for 600 s, in issue 20).
TEST_F(TargetTrackingTest, ScaleUpsAfterOneScaleDownAreOneReversal) {
  config_.tracking.panic_threshold = 1000;
  config_.tracking.scale_down_delay_s = 10;
  config_.tracking.max_scale_down_delay_s = 100;
  demand_.Steady(4, 40);
  Decide(0, 4);
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(11, 4).direction, Direction::kDown);
  demand_.Steady(4, 40);
  EXPECT_EQ(Decide(20, 2).direction, Direction::kUp);  // the reversal: 20 s
  demand_.Steady(6, 60);
  EXPECT_EQ(Decide(21, 4).direction, Direction::kUp);  // the same way: still 20 s
  demand_.Steady(2, 20);
  EXPECT_EQ(Decide(40, 6).direction, Direction::kHold);  // 6 recommended 19 s ago
  EXPECT_EQ(Decide(42, 6).direction, Direction::kDown);  // after 20 s, not 40
}

// 6 s requests queued during a burst: each needs one more slot to start at once, not the three
// (6 s / 2 s drain) that would drain it within backlogDrain if that were possible.
TEST_F(TargetTrackingTest, PanicAddsAtMostOneSlotPerQueuedRequest) {
  config_.max_replicas = 100;
  demand_.Steady(12, 2);  // 6 s per request learned on a calm window
  EXPECT_EQ(Decide(0, 12).desired, 12);
  demand_.short_rate = 6;  // 36 in flight steady, plus 12 queued
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

// LLM sizing (targetTokensPerSecond > 0): replicas follow completion tokens/s, not concurrency.
class TokenTargetTrackingTest : public TargetTrackingTest {
 protected:
  TokenTargetTrackingTest() { config_.tracking.target_tokens_per_second = 100; }
};

TEST_F(TokenTargetTrackingTest, SizesForTokenRateOverTarget) {
  demand_.Steady(1, 1);       // concurrency alone would ask for one replica
  demand_.SteadyTokens(450);  // 1.5x the capacity of 3 x 100 tokens/s: no panic
  const Decision d = Decide(0, 3);
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_NE(d.reason.find("450 tokens/s over 30s / target 100 tokens/s"), std::string::npos)
      << d.reason;
}

TEST_F(TokenTargetTrackingTest, HoldsWithinToleranceOfTheTokenTarget) {
  demand_.Steady(9, 9);  // concurrency alone would ask for nine
  demand_.SteadyTokens(305);
  const Decision d = Decide(0, 3);
  EXPECT_EQ(d.desired, 3);
  EXPECT_EQ(d.direction, Direction::kHold);
  EXPECT_NE(d.reason.find("tokens/s within 10%"), std::string::npos) << d.reason;
}

TEST_F(TokenTargetTrackingTest, PanicsOnShortWindowTokenRate) {
  demand_.SteadyTokens(200);
  EXPECT_EQ(Decide(0, 2).direction, Direction::kHold);
  demand_.short_token_rate = 700;  // 3.5x the capacity of 2 x 100 tokens/s
  const Decision d = Decide(1, 2);
  EXPECT_EQ(d.desired, 7);
  EXPECT_NE(d.reason.find("panic: 700 tokens/s"), std::string::npos) << d.reason;
  // No scale-down while panicking, though the stable window still reads 200 tokens/s.
  demand_.short_token_rate = 200;
  EXPECT_EQ(Decide(5, 7).desired, 7);
}

TEST_F(TokenTargetTrackingTest, ScalesDownOnlyAfterTheDelay) {
  demand_.SteadyTokens(600);
  EXPECT_EQ(Decide(0, 6).desired, 6);
  demand_.SteadyTokens(200);
  EXPECT_EQ(Decide(30, 6).desired, 6);  // 6 recommended within the last 60 s
  EXPECT_EQ(Decide(61, 6).desired, 3);  // rate-limited to half
}

TEST_F(TokenTargetTrackingTest, ZeroTargetKeepsConcurrencyMode) {
  config_.tracking.target_tokens_per_second = 0;
  demand_.Steady(3.5, 35);
  demand_.SteadyTokens(10000);
  EXPECT_EQ(Decide(0, 2).desired, 4);
}

}  // namespace
}  // namespace lagscale::coordinator
