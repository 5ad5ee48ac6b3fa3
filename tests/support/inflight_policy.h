#pragma once

// Test support for the engine suites: a model policy whose decision is plain to read off its
// inputs, so a test asserts what the engine does with decisions, not what a real policy decides.

#include <algorithm>
#include <cmath>
#include <string>

#include "lagscale/coordinator/policy.h"

namespace lagscale::testing {

// desired = requests in flight, within the bounds; holds on stale data.
class InflightPolicy final : public coordinator::ModelPolicy {
 public:
  using Decision = coordinator::Decision;
  using Direction = coordinator::Direction;

  explicit InflightPolicy(const coordinator::ModelPolicyConfig& c) : c_(c) {}
  Decision Decide(const coordinator::ModelContext& ctx) override {
    if (!ctx.demand.Fresh()) return Decision{ctx.current_replicas, Direction::kHold, "hold"};
    const int want = std::clamp(static_cast<int>(std::ceil(ctx.demand.Inflight())), c_.min_replicas,
                                c_.max_replicas);
    return Decision{want, want > ctx.current_replicas ? Direction::kUp : Direction::kDown,
                    "inflight " + std::to_string(want)};
  }

 private:
  coordinator::ModelPolicyConfig c_;
};

}  // namespace lagscale::testing
