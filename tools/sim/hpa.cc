// Kubernetes HPA (autoscaling/v2, pkg/controller/podautoscaler) on an average-concurrency metric
// with AverageValue target = target concurrency per pod, default behavior:
//  - sync every 15 s; the metric is what prometheus-adapter serves, a 1-minute average;
//  - tolerance 0.1: no change while |usage / (target x replicas) - 1| <= 0.1;
//  - otherwise recommendation = ceil(usage / target);
//  - scale-down stabilization 300 s: the highest recommendation over the window;
//  - scale-up limit per 15 s: max(+4 pods, +100 %) of the replicas at the period start;
//    scale-down limit 100 % per 15 s (no practical limit); then min/max replicas.
#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>

#include "autoscaler.h"

namespace lagscale::sim {
namespace {

constexpr double kSyncPeriodS = 15;
constexpr double kMetricWindowS = 60;
constexpr double kTolerance = 0.1;
constexpr double kDownStabilizationS = 300;
constexpr double kRatePeriodS = 15;

class Hpa : public Autoscaler {
 public:
  explicit Hpa(const SimParams& params) : params_(params) {}

  double NextWake() const override { return next_s_; }

  Wake OnWake(const Cluster& cluster) override {
    const double now = cluster.now();
    next_s_ = now + kSyncPeriodS;
    const int current = cluster.provisioned();
    const double target = params_.target();
    const double usage = cluster.AverageInflight(kMetricWindowS);
    int recommendation = current;
    if (current == 0 || std::fabs(usage / (target * current) - 1) > kTolerance) {
      recommendation = static_cast<int>(std::ceil(usage / target - 1e-9));
    }
    recommendations_.emplace_back(now, recommendation);
    while (recommendations_.front().first < now - kDownStabilizationS) recommendations_.pop_front();
    int desired = recommendation;
    if (desired < current) {
      int highest = desired;
      for (const auto& [t, r] : recommendations_) highest = std::max(highest, r);
      desired = std::min(current, highest);
    }
    // Rate limit against the replicas at the start of the rate period.
    while (!changes_.empty() && changes_.front().first <= now - kRatePeriodS) changes_.pop_front();
    int added = 0;
    for (const auto& [t, delta] : changes_) added += std::max(delta, 0);
    const int period_start = current - added;
    const int up_limit = std::max(period_start + 4, period_start * 2);
    desired = std::min(desired, up_limit);
    desired = std::clamp(desired, params_.min_replicas, params_.max_replicas);
    if (desired != current) changes_.emplace_back(now, desired - current);
    char reason[128];
    std::snprintf(reason, sizeof(reason), "usage %.1f over 60s, recommendation %d", usage,
                  recommendation);
    return Wake{desired, reason};
  }

 private:
  SimParams params_;
  double next_s_ = kSyncPeriodS;
  std::deque<std::pair<double, int>> recommendations_;
  std::deque<std::pair<double, int>> changes_;
};

}  // namespace

std::unique_ptr<Autoscaler> MakeHpa(const SimParams& params) {
  return std::make_unique<Hpa>(params);
}

}  // namespace lagscale::sim
