// The oracle knows the trace: it starts replicas one (the longest) start-up delay before the load
// needs them and keeps exactly what the load at the target utilization needs over the time a new
// replica would take to arrive. It is the floor the other policies' replica-seconds are compared
// with.
#include <algorithm>
#include <cmath>

#include "autoscaler.h"

namespace lagscale::sim {
namespace {

constexpr double kTickS = 0.25;

class Oracle : public Autoscaler {
 public:
  Oracle(const SimParams& params, const ModelTrace& trace) : params_(params), trace_(trace) {}

  double NextWake() const override { return next_s_; }

  Wake OnWake(const Cluster& cluster) override {
    const double now = cluster.now();
    next_s_ = now + kTickS;
    // It knows the trace, not the start-up draws: plan for the longest start-up.
    const double lead = std::max(params_.cluster.startup_s, params_.cluster.startup_max_s);
    const double load = trace_.MaxLoad(now, now + lead + kTickS);
    int desired = static_cast<int>(std::ceil(load / params_.target() - 1e-9));
    desired = std::clamp(desired, params_.min_replicas, params_.max_replicas);
    return Wake{desired, "future load"};
  }

 private:
  SimParams params_;
  const ModelTrace& trace_;
  double next_s_ = 0;
};

}  // namespace

std::unique_ptr<Autoscaler> MakeOracle(const SimParams& params, const ModelTrace& trace) {
  return std::make_unique<Oracle>(params, trace);
}

}  // namespace lagscale::sim
