// TargetTracking's LLM sizing (targetTokensPerSecond > 0): replicas follow completion tokens/s.
#include <gtest/gtest.h>

#include <string>

#include "lagscale/coordinator/policy.h"
#include "support/policy_target_tracking.h"

namespace lagscale::coordinator {
namespace {

using testing::TokenTargetTrackingTest;

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
