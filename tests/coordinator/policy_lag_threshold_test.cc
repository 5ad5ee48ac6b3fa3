#include <gtest/gtest.h>

#include <limits>

#include "lagscale/coordinator/policy.h"
#include "support/policy_fake_demand.h"

namespace lagscale::coordinator {
namespace {

using testing::FakeDemand;

class LagThresholdTest : public ::testing::Test {
 protected:
  LagThresholdTest() {
    config_.kind = PolicyKind::kLagThreshold;
    config_.min_replicas = 1;
    config_.max_replicas = 10;
    config_.lag.lag_threshold = 30;
    config_.lag.lag_window_s = 1;
    config_.lag.idle_window_s = 600;
    demand_.idle_s = 0;
  }

  Decision Decide(double now, int current) {
    if (!policy_) policy_ = MakeModelPolicy(config_);
    return policy_->Decide(ModelContext{now, current, demand_});
  }

  ModelPolicyConfig config_;
  FakeDemand demand_;
  std::unique_ptr<ModelPolicy> policy_;
};

TEST_F(LagThresholdTest, DefaultsAreSeldons) {
  ModelPolicyConfig defaults;
  EXPECT_EQ(defaults.lag.lag_threshold, 30);
  EXPECT_EQ(defaults.lag.idle_window_s, 600);
}

TEST_F(LagThresholdTest, ScalesUpProportionallyOnceLagStaysAboveThresholdForTheWindow) {
  demand_.inflight = 70;
  Decision first = Decide(0, 1);
  EXPECT_EQ(first.direction, Direction::kHold);
  EXPECT_EQ(first.desired, 1);
  Decision d = Decide(1, 1);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_EQ(d.desired, 3);  // ceil(70 / 30)
  EXPECT_NE(d.reason.find("lag"), std::string::npos) << d.reason;
}

TEST_F(LagThresholdTest, StepsByOneWhenNotProportional) {
  config_.lag.lag_proportional = false;
  demand_.inflight = 200;
  Decide(0, 1);
  EXPECT_EQ(Decide(1, 1).desired, 2);
}

TEST_F(LagThresholdTest, LagThatDipsInsideTheWindowRestartsIt) {
  demand_.inflight = 70;
  Decide(0, 1);
  demand_.inflight = 10;
  EXPECT_EQ(Decide(0.5, 1).direction, Direction::kHold);
  demand_.inflight = 70;
  EXPECT_EQ(Decide(1.0, 1).direction, Direction::kHold);
  EXPECT_EQ(Decide(2.0, 1).direction, Direction::kUp);
}

TEST_F(LagThresholdTest, EachStepNeedsAnotherFullWindow) {
  demand_.inflight = 300;
  Decide(0, 1);
  ASSERT_EQ(Decide(1, 1).desired, 10);
  config_.max_replicas = 20;
  demand_.inflight = 900;
  EXPECT_EQ(Decide(1.5, 10).direction, Direction::kHold);
}

TEST_F(LagThresholdTest, ScalesDownToMinimumAfterIdleWindow) {
  demand_.inflight = 0;
  demand_.idle_s = 0;
  Decide(0, 3);
  demand_.idle_s = 599;
  EXPECT_EQ(Decide(599, 3).direction, Direction::kHold);
  demand_.idle_s = 600;
  Decision d = Decide(600, 3);
  EXPECT_EQ(d.direction, Direction::kDown);
  EXPECT_EQ(d.desired, 1);
  EXPECT_NE(d.reason.find("idle"), std::string::npos) << d.reason;
}

TEST_F(LagThresholdTest, NeverSeenTrafficCountsAsIdleOnlyAfterAWholeWindow) {
  demand_.inflight = 0;
  demand_.idle_s = std::numeric_limits<double>::infinity();
  EXPECT_EQ(Decide(100, 3).direction, Direction::kHold);
  EXPECT_EQ(Decide(699, 3).direction, Direction::kHold);
  EXPECT_EQ(Decide(700, 3).direction, Direction::kDown);
}

TEST_F(LagThresholdTest, LowLagButRecentTrafficHolds) {
  demand_.inflight = 5;
  demand_.idle_s = 1;
  Decision d = Decide(0, 4);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.direction, Direction::kHold);
}

TEST_F(LagThresholdTest, StaleDataHoldsAndNeverScalesDown) {
  demand_.inflight = 0;
  demand_.idle_s = 10000;
  demand_.fresh = false;
  Decision d = Decide(0, 4);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.direction, Direction::kHold);
}

TEST_F(LagThresholdTest, StaysWithinMaximum) {
  demand_.inflight = 10000;
  Decide(0, 2);
  EXPECT_EQ(Decide(1, 2).desired, 10);
}

}  // namespace
}  // namespace lagscale::coordinator
