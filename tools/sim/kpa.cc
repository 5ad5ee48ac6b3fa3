// Knative Pod Autoscaler (serving/pkg/autoscaler/scaling/autoscaler.go), defaults:
// stable window 60 s, panic window 6 s (10 %), tick 2 s, target = utilization x container
// concurrency, panic threshold 200 %, max scale-up rate 1000, max scale-down rate 2 (at most
// halving per tick), scale-down delay 0. Every tick:
//   ready = max(1, ready pods); dspc = ceil(stable / target); dppc = ceil(panic / target);
//   over = dppc / ready >= 2; the sizes are dspc and dppc clamped to
//   [floor(ready / 2), ceil(1000 x ready)]; panic starts when over, is extended while over, and
//   ends a full stable window after it was last over; while panicking the desired count never
//   drops.
#include <algorithm>
#include <cmath>

#include "periodic.h"

namespace lagscale::sim {
namespace {

constexpr double kTickS = 2;
constexpr double kStableWindowS = 60;
constexpr double kPanicWindowS = 6;
constexpr double kPanicThreshold = 2;
constexpr double kMaxScaleUpRate = 1000;
constexpr double kMaxScaleDownRate = 2;

class Kpa : public PeriodicAutoscaler {
 public:
  explicit Kpa(const SimParams& params) : PeriodicAutoscaler(params, kTickS) {}

 private:
  Wake Want(const Cluster& cluster) override {
    const double now = cluster.now();
    const double target = params().target();
    const double ready = std::max(1, cluster.ready());
    const double stable = cluster.AverageInflight(kStableWindowS);
    const double panic = cluster.AverageInflight(kPanicWindowS);
    const double max_up = std::ceil(kMaxScaleUpRate * ready);
    const double max_down = std::floor(ready / kMaxScaleDownRate);
    const double dspc = std::ceil(stable / target - 1e-9);
    const double dppc = std::ceil(panic / target - 1e-9);
    // The panic check uses the unclamped panic count, the sizes the clamped ones.
    const bool over = dppc / ready >= kPanicThreshold;
    const double stable_pods = std::clamp(dspc, max_down, max_up);
    const double panic_pods = std::clamp(dppc, max_down, max_up);
    if (over) {
      panicking_ = true;
      panic_time_s_ = now;
    } else if (panicking_ && now >= panic_time_s_ + kStableWindowS) {
      panicking_ = false;
      max_panic_pods_ = 0;
    }
    int desired;
    if (panicking_) {
      desired = std::max(static_cast<int>(panic_pods), max_panic_pods_);
      max_panic_pods_ = desired;
    } else {
      desired = static_cast<int>(stable_pods);
    }
    char reason[128];
    std::snprintf(reason, sizeof(reason), "%s: stable %.1f panic %.1f ready %.0f",
                  panicking_ ? "panic" : "stable", stable, panic, ready);
    return Wake{desired, reason};
  }

  bool panicking_ = false;
  double panic_time_s_ = 0;
  int max_panic_pods_ = 0;
};

}  // namespace

std::unique_ptr<Autoscaler> MakeKpa(const SimParams& params) {
  return std::make_unique<Kpa>(params);
}

}  // namespace lagscale::sim
