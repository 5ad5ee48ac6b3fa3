// Target tracking, after Knative's KPA (stable + panic windows) and the HPA's scale-down
// stabilization, with three changes: the panic window also counts the requests in flight right
// now (a queue that builds inside one report interval triggers it), a tolerance band around the
// target (HPA) keeps small drifts from moving replicas, and repeated up/down reversals lengthen
// the scale-down delay (flap damping) so oscillating load settles on its peak.
#include <cmath>
#include <deque>
#include <limits>
#include <utility>

#include "policy/policies.h"

namespace lagscale::coordinator::policy {
namespace {

constexpr double kNever = -std::numeric_limits<double>::infinity();

class TargetTracking : public ModelPolicy {
 public:
  explicit TargetTracking(const ModelPolicyConfig& config)
      : config_(config), down_delay_s_(config.scale_down_delay_s) {}

  Decision Decide(const ModelContext& context) override {
    const int current = context.current_replicas;
    if (!context.demand.Fresh())
      return HoldOnStaleData(last_desired_, current, config_.min_replicas);
    const double now = context.now_s;
    const double target = std::max(config_.target_concurrency, 1e-9);

    const double stable = context.demand.AverageConcurrency(config_.stable_window_s);
    const double inflight = context.demand.Inflight();
    const double burst =
        std::max(context.demand.AverageConcurrency(config_.panic_window_s), inflight);
    const int want_stable = ReplicasFor(stable, target);
    const int want_burst = ReplicasFor(burst, target);

    // Panic: the short window asks for panic_threshold times what we have. From zero replicas any
    // demand at all is a burst.
    const bool over =
        current == 0 ? burst > 0 : burst >= config_.panic_threshold * current * target;
    if (over) {
      panicking_ = true;
      last_over_s_ = now;
    } else if (panicking_ && now - last_over_s_ >= config_.stable_window_s) {
      panicking_ = false;
    }

    int recommendation;
    std::string why;
    if (panicking_) {
      // Never lower while panicking (KPA keeps the panic maximum).
      recommendation = std::max({want_burst, want_stable, current});
      why = Format("panic: %.1f in flight/short-window > %.1fx capacity of %d", burst,
                   config_.panic_threshold, current);
    } else if (current > 0 && std::fabs(stable / (current * target) - 1) <= config_.tolerance) {
      recommendation = current;
      why = Format("%.1f concurrency within %.0f%% of target %.1f x %d", stable,
                   config_.tolerance * 100, target, current);
    } else {
      recommendation = want_stable;
      why = Format("%.1f average concurrency over %.0fs / target %.1f", stable,
                   config_.stable_window_s, target);
    }
    recommendation = Clamp(recommendation, config_.min_replicas, config_.max_replicas);

    // Scale-down stabilization: the highest recommendation over the (possibly damped) delay.
    history_.emplace_back(now, recommendation);
    const double keep = std::max(config_.max_scale_down_delay_s, config_.scale_down_delay_s);
    while (!history_.empty() && history_.front().first < now - keep) history_.pop_front();
    int desired = recommendation;
    if (recommendation < current) {
      int highest = recommendation, highest_base = recommendation;
      for (const auto& [t, r] : history_) {
        if (t >= now - down_delay_s_) highest = std::max(highest, r);
        if (t >= now - config_.scale_down_delay_s) highest_base = std::max(highest_base, r);
      }
      desired = std::min(current, highest);
      if (desired > recommendation) {
        if (highest > highest_base) last_damped_block_s_ = now;
        why += Format("; scale-down held: %d recommended within the last %.0fs", highest,
                      down_delay_s_);
      }
    }

    // Rate limits both ways (KPA: up to ceil(rate x ready), down to floor(ready / rate)).
    if (current > 0) {
      const int up_cap =
          std::max(current + 1, static_cast<int>(std::ceil(current * config_.max_scale_up_rate)));
      const int down_floor =
          static_cast<int>(std::floor(current / std::max(config_.max_scale_down_rate, 1.0)));
      if (desired > up_cap) {
        desired = up_cap;
        why += Format("; step limited to %.0fx", config_.max_scale_up_rate);
      } else if (desired < down_floor) {
        desired = down_floor;
        why += Format("; step limited to 1/%.0f", config_.max_scale_down_rate);
      }
    }
    desired = Clamp(desired, config_.min_replicas, config_.max_replicas);

    const Direction direction = DirectionOf(current, desired);
    Damp(direction, now);
    last_desired_ = desired;
    if (direction == Direction::kHold) why = "hold: " + why;
    return Decision{desired, direction, std::move(why)};
  }

 private:
  // A scale-up soon after a scale-down (or the reverse) is a reversal: double the scale-down
  // delay. Relax to the configured delay once no reversal happened and no scale-down was held by
  // the longer delay for max_scale_down_delay_s.
  void Damp(Direction direction, double now) {
    if (direction == Direction::kUp && now - last_down_s_ < config_.flap_window_s) {
      down_delay_s_ = std::min(std::max(config_.max_scale_down_delay_s, config_.scale_down_delay_s),
                               down_delay_s_ * 2);
      last_reversal_s_ = now;
    }
    if (direction == Direction::kDown) last_down_s_ = now;
    const double quiet = config_.max_scale_down_delay_s;
    if (now - last_reversal_s_ > quiet && now - last_damped_block_s_ > quiet) {
      down_delay_s_ = config_.scale_down_delay_s;
    }
  }

  ModelPolicyConfig config_;
  int last_desired_ = -1;
  bool panicking_ = false;
  double last_over_s_ = kNever;
  std::deque<std::pair<double, int>> history_;  // (time, recommendation)
  double down_delay_s_;
  double last_down_s_ = kNever;
  double last_reversal_s_ = kNever;
  double last_damped_block_s_ = kNever;
};

}  // namespace

std::unique_ptr<ModelPolicy> MakeTargetTracking(const ModelPolicyConfig& config) {
  return std::make_unique<TargetTracking>(config);
}

}  // namespace lagscale::coordinator::policy
