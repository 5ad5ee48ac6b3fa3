#pragma once

// Runs one autoscaler over a trace on the queueing model and measures it.
// Thread safety: pure function of its arguments (each call builds its own state).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "autoscaler.h"
#include "trace.h"

namespace lagscale::sim {

struct PolicyResult {
  std::string name;
  std::optional<double> reaction_s;  // burst start to the first scale-up decision; none: no burst
  double ready_s = 0;                // longest stretch with ready capacity below the offered load
  int scale_events = 0;              // decisions that changed the replica count
  int reversals = 0;                 // scale events whose direction differs from the previous one
  double reversals_per_5min = 0;
  double replica_seconds = 0;
  double slo_violation_s = 0;
  uint64_t timed_out_requests = 0;
  uint64_t requests = 0;
  double duration_s = 0;
};

extern const std::vector<std::string> kPolicyNames;  // lagscale, hpa, kpa, keda, seldon, oracle

// REQUIRES: `name` is in kPolicyNames.
PolicyResult RunPolicy(const std::string& name, const Trace& trace, const SimParams& params);

// Burst start of one model: the first change of the trace whose load needs more replicas than
// the run starts with; none for a trace that never does.
std::optional<double> BurstStart(const ModelTrace& trace, const SimParams& params);

}  // namespace lagscale::sim
