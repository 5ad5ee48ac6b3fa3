// The lagscale policy exactly as the coordinator runs it: sidecar reports every report interval
// (and early when in-flight jumps), a decision loop every decision interval, the same
// coordinator::ModelPolicy code.
#include <algorithm>
#include <cmath>

#include "autoscaler.h"
#include "sampled_demand.h"

namespace lagscale::sim {
namespace {

class Lagscale : public Autoscaler {
 public:
  explicit Lagscale(const SimParams& params)
      : params_(params),
        policy_(coordinator::MakeModelPolicy(params.lagscale)),
        demand_(
            std::max({2 * params.lagscale.tracking.stable_window_s,
                      params.lagscale.tracking.panic_window_s, params.lagscale.lag.lag_window_s}) +
            params.report_interval_s) {}

  double NextWake() const override { return std::min(next_report_s_, next_decision_s_); }

  Wake OnWake(const Cluster& cluster) override {
    const double now = cluster.now();
    if (now >= next_report_s_) {
      Send(cluster);
      next_report_s_ = now + params_.report_interval_s;
    }
    if (now < next_decision_s_) return {};
    next_decision_s_ = now + params_.decision_interval_s;
    demand_.SetNow(now);
    coordinator::ModelContext context{now, cluster.provisioned(), demand_};
    coordinator::Decision d = policy_->Decide(context);
    return Wake{d.desired, std::move(d.reason)};
  }

  void AfterArrival(const Cluster& cluster) override {
    const Report* last = demand_.latest();
    if (params_.early_report_threshold > 0 && last != nullptr &&
        cluster.inflight() - last->inflight >= params_.early_report_threshold) {
      Send(cluster);
    }
  }

 private:
  void Send(const Cluster& cluster) {
    demand_.Add(Report{cluster.now(), cluster.integral(), cluster.total_arrivals(),
                       cluster.inflight(), cluster.last_arrival_s(), cluster.total_tokens()});
  }

  SimParams params_;
  std::unique_ptr<coordinator::ModelPolicy> policy_;
  SampledDemand demand_;
  double next_report_s_ = 0;
  double next_decision_s_ = 0;
};

}  // namespace

std::unique_ptr<Autoscaler> MakeLagscale(const SimParams& params) {
  return std::make_unique<Lagscale>(params);
}

}  // namespace lagscale::sim
