#pragma once

// PeriodicAutoscaler: a baseline that wakes on a fixed period (KPA's tick, Seldon's sample
// period), first one period after the start, and whose answer is bounded by the run's min/max
// replicas. A subclass says only what it wants at each wake.
// Thread safety: none; one instance per simulated run.

#include <algorithm>

#include "autoscaler.h"

namespace lagscale::sim {

class PeriodicAutoscaler : public Autoscaler {
 public:
  PeriodicAutoscaler(const SimParams& params, double period_s)
      : params_(params), period_s_(period_s), next_s_(period_s) {}

  double NextWake() const final { return next_s_; }

  Wake OnWake(const Cluster& cluster) final {
    next_s_ = cluster.now() + period_s_;
    Wake wake = Want(cluster);
    wake.desired = std::clamp(*wake.desired, params_.min_replicas, params_.max_replicas);
    return wake;
  }

 protected:
  // The replicas wanted now (before the bounds) and why. REQUIRES: desired is set.
  virtual Wake Want(const Cluster& cluster) = 0;

  const SimParams& params() const { return params_; }

 private:
  SimParams params_;
  double period_s_;
  double next_s_;
};

}  // namespace lagscale::sim
