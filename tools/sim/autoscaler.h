#pragma once

// Autoscaler: one scaling algorithm driven by the simulator. Each wakes on its own schedule (the
// coordinator's decision loop, HPA's sync period, KPA's tick, Seldon's sample period) and sees
// only what that algorithm would see in a real cluster.
// Thread safety: none; one instance per simulated run.

#include <memory>
#include <optional>
#include <string>

#include "cluster.h"
#include "lagscale/coordinator/policy.h"
#include "trace.h"

namespace lagscale::sim {

struct SimParams {
  ClusterParams cluster;
  double target_utilization = 0.7;  // target concurrency per replica = this x concurrency
  int min_replicas = 1;
  int max_replicas = 200;
  double report_interval_s = 1;    // sidecar report period
  int early_report_threshold = 8;  // in-flight jump that sends a report early (0 = never)
  double decision_interval_s = 0.25;
  uint64_t seed = 1;
  bool log_decisions = false;               // print every scale event with its reason to stderr
  coordinator::ModelPolicyConfig lagscale;  // bounds and target are filled from the fields above

  double target() const { return target_utilization * cluster.concurrency; }
};

struct Wake {
  std::optional<int> desired;  // empty: this wake made no decision
  std::string reason;
};

class Autoscaler {
 public:
  virtual ~Autoscaler() = default;
  // Virtual time of the next wake.
  virtual double NextWake() const = 0;
  virtual Wake OnWake(const Cluster& cluster) = 0;
  // Called after every arrival: sidecars send an early report on a large in-flight jump.
  virtual void AfterArrival(const Cluster&) {}
};

// `name` is one of lagscale, hpa, kpa, keda, seldon, oracle.
std::unique_ptr<Autoscaler> MakeAutoscaler(const std::string& name, const SimParams& params,
                                           const ModelTrace& trace);

std::unique_ptr<Autoscaler> MakeLagscale(const SimParams& params);
std::unique_ptr<Autoscaler> MakeHpa(const SimParams& params);
std::unique_ptr<Autoscaler> MakeKpa(const SimParams& params);
std::unique_ptr<Autoscaler> MakeKedaHttp(const SimParams& params);
std::unique_ptr<Autoscaler> MakeSeldon(const SimParams& params);
std::unique_ptr<Autoscaler> MakeOracle(const SimParams& params, const ModelTrace& trace);

}  // namespace lagscale::sim
