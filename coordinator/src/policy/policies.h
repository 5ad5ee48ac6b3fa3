#pragma once

// Internal to the coordinator library: the concrete policies behind MakeModelPolicy and
// MakeServerSizer, and the small helpers they share.
// Thread safety: the helpers are pure functions; the policies are single-threaded (policy.h).

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator::policy {

std::unique_ptr<ModelPolicy> MakeTargetTracking(const ModelPolicyConfig& config);
std::unique_ptr<ModelPolicy> MakeLagThreshold(const ModelPolicyConfig& config);

// printf-style formatting for decision reasons (they are built a few times per second at most).
inline std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string Format(const char* fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

inline Direction DirectionOf(int from, int to) {
  return to > from ? Direction::kUp : to < from ? Direction::kDown : Direction::kHold;
}

inline int Clamp(int value, int lo, int hi) {
  return std::max(lo, std::min(value, std::max(lo, hi)));
}

// The most replicas one step may reach from `current` (KPA: ceil(rate x ready), at least one more).
inline int UpCap(int current, double max_scale_up_rate) {
  return std::max(current + 1, static_cast<int>(std::ceil(current * max_scale_up_rate)));
}

// The decision to go from `current` to `desired` replicas; the reason says "hold: " first when
// nothing moves.
inline Decision Decided(int current, int desired, std::string why) {
  const Direction direction = DirectionOf(current, desired);
  if (direction == Direction::kHold) why = "hold: " + why;
  return Decision{desired, direction, std::move(why)};
}

// Number of replicas that serve `demand` at `per_replica` each; tiny float noise must not add one.
// `dead_band` (a policy's tolerance) is how far past a whole number of replicas the ratio may go
// before it rounds up: a measured 1.0002 at target 1 is one replica, not two. Any demand needs one.
// Absurd demand (from a broken reporter) saturates at 1e9 instead of overflowing the int, and
// callers clamp to their maxReplicas; NaN demand needs none.
inline int ReplicasFor(double demand, double per_replica, double dead_band = 0) {
  if (!(demand > 0)) return 0;
  double ratio = demand / std::max(per_replica, 1e-9);
  const double replicas = std::ceil(ratio - std::max(dead_band, 1e-9));
  return std::max(1, static_cast<int>(std::min(replicas, 1e9)));
}

// What a policy returns when its inputs cannot be trusted: keep the last decision, but never
// below what the target has now (that would be a scale-down on missing data) nor below the lower
// bound. Only a decision the target has not reached yet (or the lower bound) can move it, upward.
inline Decision HoldOnStaleData(int last_desired, int current, int min_replicas) {
  const int held = std::max({last_desired, current, min_replicas});
  return Decision{held, held > current ? Direction::kUp : Direction::kHold,
                  Format("hold at %d: demand data missing, stale or restarted", held)};
}

}  // namespace lagscale::coordinator::policy
