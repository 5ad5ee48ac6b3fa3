#pragma once

// First-fit-decreasing packing of model replicas onto server replicas, honouring the scheduler's
// rule that one server replica holds at most one replica of a given model.
// Thread safety: a pure function.

#include <vector>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator::policy {

struct PackingResult {
  int servers = 0;    // server replicas the packing opened
  int widest = 0;     // the most replicas any one model wants
  int oversized = 0;  // replicas larger than one server's capacity (each given its own server)
};

// REQUIRES: capacity_bytes > 0 for memory to count; otherwise only the widest model matters.
PackingResult PackFirstFitDecreasing(const std::vector<ServerModelDemand>& models,
                                     double capacity_bytes);

}  // namespace lagscale::coordinator::policy
