// Lag threshold, Seldon Core 2's semantics: scale up while the lag (requests received and not yet
// answered) per replica stays at or above a threshold for a window; scale down once the model has
// been idle for a window. Differences from Seldon's own trigger: the lag is the exact in-flight
// count of every pod (not one point sample of the scheduler queue), the window is checked on every
// decision so a burst is caught within one report, the step may be proportional to the lag, and
// missing data holds instead of reading as zero lag.
#include <cmath>
#include <limits>

#include "policy/policies.h"

namespace lagscale::coordinator::policy {
namespace {

constexpr double kNever = std::numeric_limits<double>::quiet_NaN();

class LagThreshold : public ModelPolicy {
 public:
  explicit LagThreshold(const ModelPolicyConfig& config) : config_(config) {}

  Decision Decide(const ModelContext& context) override {
    const int current = context.current_replicas;
    if (!context.demand.Fresh()) {
      above_since_s_ = kNever;
      return HoldOnStaleData(last_desired_, current, config_.min_replicas);
    }
    const double now = context.now_s;
    if (std::isnan(first_seen_s_)) first_seen_s_ = now;
    const double threshold = std::max(config_.lag.lag_threshold, 1e-9);
    const double lag = context.demand.Inflight();
    const double per_replica = lag / std::max(current, 1);

    int desired = current;
    std::string why;
    if (lag > 0 && per_replica >= threshold) {
      if (std::isnan(above_since_s_)) above_since_s_ = now;
      const double held_for = now - above_since_s_;
      if (held_for >= config_.lag.lag_window_s || current == 0) {
        const int step_to =
            config_.lag.lag_proportional ? ReplicasFor(lag, threshold) : current + 1;
        desired = std::max(current + 1, step_to);
        desired = std::min(desired, UpCap(current, config_.max_scale_up_rate));
        above_since_s_ = now;  // the next step needs another full window at the new size
        why = Format("lag %.0f per replica >= %.0f for %.0fs", per_replica, threshold, held_for);
      } else {
        why = Format("lag %.0f per replica >= %.0f for %.1fs of %.0fs", per_replica, threshold,
                     held_for, config_.lag.lag_window_s);
      }
    } else {
      above_since_s_ = kNever;
      // Idle only counts for as long as this policy has watched: a model never seen to receive a
      // request (infinite idle) is not idle before a whole window has passed.
      const double idle = std::min(context.demand.IdleSeconds(), now - first_seen_s_);
      if (idle >= config_.lag.idle_window_s && lag <= 0) {
        desired = config_.min_replicas;
        why = Format("idle for %.0fs >= %.0fs", idle, config_.lag.idle_window_s);
      } else {
        why =
            Format("lag %.1f per replica below %.0f, idle for %.0fs", per_replica, threshold, idle);
      }
    }
    desired = Clamp(desired, config_.min_replicas, config_.max_replicas);
    last_desired_ = desired;
    return Decided(current, desired, std::move(why));
  }

 private:
  ModelPolicyConfig config_;
  int last_desired_ = -1;
  double above_since_s_ = kNever;
  double first_seen_s_ = kNever;
};

}  // namespace

std::unique_ptr<ModelPolicy> MakeLagThreshold(const ModelPolicyConfig& config) {
  return std::make_unique<LagThreshold>(config);
}

}  // namespace lagscale::coordinator::policy
