#pragma once

// The target-tracking policy's test fixtures, shared by the tests of its steady sizing, its panic
// mode and its token-rate sizing (one fixture type per suite, so they live here once).
// LevelDemand: pods holding a level of requests in flight, as a DemandView.
// Thread safety: none; each test owns its fixture.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "lagscale/coordinator/policy.h"
#include "support/policy_fake_demand.h"

namespace lagscale::coordinator::testing {

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
    // The Poisson floor binds below 12 in flight at target 1, which would move every small
    // number these tests use: PoissonFloorTest turns it back on.
    config_.tracking.poisson_headroom = 0;
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

// Seconds-long requests (LLM answers), with room to scale.
class LongRequestsTest : public TargetTrackingTest {
 protected:
  LongRequestsTest() { config_.max_replicas = 100; }
};

// LLM sizing (targetTokensPerSecond > 0): replicas follow completion tokens/s, not concurrency.
class TokenTargetTrackingTest : public TargetTrackingTest {
 protected:
  TokenTargetTrackingTest() { config_.tracking.target_tokens_per_second = 100; }
};

}  // namespace lagscale::coordinator::testing
