// Kubernetes HPA (autoscaling/v2, pkg/controller/podautoscaler) on an average-concurrency metric
// with AverageValue target = target concurrency per pod, default behavior:
//  - sync every 15 s; the metric is what prometheus-adapter serves, a 1-minute average;
//  - tolerance 0.1: no change while |usage / (target x replicas) - 1| <= 0.1;
//  - otherwise recommendation = ceil(usage / target);
//  - scale-down stabilization 300 s: the highest recommendation over the window;
//  - scale-up limit per 15 s: max(+4 pods, +100 %) of the replicas at the period start;
//    scale-down limit 100 % per 15 s (no practical limit); then min/max replicas.
// KEDA's HTTP add-on (kedacore/http-add-on) puts the same HPA on another metric: its interceptors
// count each host's pending requests (in flight, queued included), the external scaler polls them
// every 500 ms, and the HPA reads the newest poll at its sync with a pending-requests AverageValue
// target (the same target concurrency per replica as every policy here).
#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <utility>

#include "autoscaler.h"

namespace lagscale::sim {
namespace {

constexpr double kSyncPeriodS = 15;
constexpr double kMetricWindowS = 60;
constexpr double kTolerance = 0.1;
constexpr double kDownStabilizationS = 300;
constexpr double kRatePeriodS = 15;
constexpr double kKedaPollS = 0.5;

// The metric the HPA reads, sampled every poll period (the sync reads the newest sample).
using Metric = std::function<double(const Cluster&)>;

class Hpa : public Autoscaler {
 public:
  Hpa(const SimParams& params, Metric metric, double poll_s, const char* metric_name)
      : params_(params),
        metric_(std::move(metric)),
        poll_s_(poll_s),
        next_poll_s_(poll_s),
        metric_name_(metric_name) {}

  double NextWake() const override { return std::min(next_s_, next_poll_s_); }

  Wake OnWake(const Cluster& cluster) override {
    const double now = cluster.now();
    if (now >= next_poll_s_) {
      sample_ = metric_(cluster);
      next_poll_s_ = now + poll_s_;
    }
    if (now < next_s_) return {};
    next_s_ = now + kSyncPeriodS;
    const int current = cluster.provisioned();
    const double target = params_.target();
    const double usage = sample_;
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
    std::snprintf(reason, sizeof(reason), "%s %.1f, recommendation %d", metric_name_, usage,
                  recommendation);
    return Wake{desired, reason};
  }

 private:
  SimParams params_;
  Metric metric_;
  double poll_s_;
  double next_poll_s_;
  const char* metric_name_;
  double sample_ = 0;
  double next_s_ = kSyncPeriodS;
  std::deque<std::pair<double, int>> recommendations_;
  std::deque<std::pair<double, int>> changes_;
};

}  // namespace

std::unique_ptr<Autoscaler> MakeHpa(const SimParams& params) {
  // prometheus-adapter computes the 1-minute average when the HPA asks, at the sync itself.
  return std::make_unique<Hpa>(
      params, [](const Cluster& c) { return c.AverageInflight(kMetricWindowS); }, kSyncPeriodS,
      "usage over 60s");
}

std::unique_ptr<Autoscaler> MakeKedaHttp(const SimParams& params) {
  return std::make_unique<Hpa>(
      params, [](const Cluster& c) { return c.inflight(); }, kKedaPollS, "pending requests");
}

}  // namespace lagscale::sim
