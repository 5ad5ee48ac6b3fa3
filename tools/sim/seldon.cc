// Seldon Core 2's built-in model autoscaling (agent model-scaling stats, scheduler triggers):
//  - the lag (requests received and not yet answered) is point-sampled every 20 s;
//  - lag per replica >= 30 asks for one more replica and resets the lag statistics;
//  - a model idle (no request) for 600 s asks for one replica less;
//  - scale-downs are at least 60 s apart (cool-down).
#include <algorithm>

#include "periodic.h"

namespace lagscale::sim {
namespace {

constexpr double kSampleS = 20;
constexpr double kLagThreshold = 30;
constexpr double kIdleS = 600;
constexpr double kDownCooldownS = 60;

class Seldon : public PeriodicAutoscaler {
 public:
  explicit Seldon(const SimParams& params) : PeriodicAutoscaler(params, kSampleS) {}

 private:
  Wake Want(const Cluster& cluster) override {
    const double now = cluster.now();
    const int current = cluster.provisioned();
    const double lag_per_replica = cluster.inflight() / std::max(1, current);
    const double idle = cluster.last_arrival_s() < 0 ? now : now - cluster.last_arrival_s();
    int desired = current;
    char reason[128];
    std::snprintf(reason, sizeof(reason), "lag %.1f per replica", lag_per_replica);
    if (lag_per_replica >= kLagThreshold) {
      desired = current + 1;
    } else if (idle >= kIdleS && now - last_down_s_ >= kDownCooldownS) {
      desired = current - 1;
      last_down_s_ = now;
      std::snprintf(reason, sizeof(reason), "idle %.0fs", idle);
    }
    return Wake{desired, reason};
  }

  double last_down_s_ = -kDownCooldownS;
};

}  // namespace

std::unique_ptr<Autoscaler> MakeSeldon(const SimParams& params) {
  return std::make_unique<Seldon>(params);
}

}  // namespace lagscale::sim
