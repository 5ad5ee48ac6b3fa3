#pragma once

// Per-model and per-server state the decision loop keeps between cycles (private to the engine).

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {

// A server's current second for its history: sums over the models it hosts.
struct HistorySums {
  float inflight = 0, concurrency = 0, arrivals = 0;
  bool any = false;  // a hosted model had data
};

// What models and servers share: the target scaled, what was read from it, what was decided and
// submitted, and how actuating went.
struct Engine::TargetEntry {
  TargetKey key;  // kind and name
  std::optional<ScaleTarget> target;
  std::optional<int> seldon_min, seldon_max;
  int desired = -1, observed = -1, submitted = -1;
  std::optional<DecisionRecord> last;
  ActuationState actuation;
  int64_t resubmitted_unix_ms = 0;  // when a failed decision was last submitted again
  HistoryTicket history;

  const std::string& name() const { return key.name; }
  // The one rule for current replicas, shown on /status and given to the policy: what was read
  // from the target, else what was last decided, else the pods seen hosting it (within
  // [lo, hi]), else the lower bound.
  int Current(int hosting, int lo, int hi) const {
    if (observed >= 0) return observed;
    if (desired >= 0) return desired;
    return hosting > 0 ? std::clamp(hosting, lo, hi) : lo;
  }
};

struct Engine::ModelEntry : Engine::TargetEntry {
  ModelPolicyConfig config;  // effective: file config (or defaults) + Seldon bounds
  std::string config_server;
  std::unique_ptr<ModelPolicy> policy;
  // The aggregator's stable handle (see aggregator.h); null until the model reports. Dies only when
  // Advance() forgets the model, which moves roster_generation(): DecideNow() then re-points every
  // entry (RebuildRoster) before reading any.
  ModelDemand* demand = nullptr;
  std::string server;                          // effective server
  struct ServerEntry* server_entry = nullptr;  // cached Server(server); entries are never freed
  bool fresh = false;
};

struct Engine::ServerEntry : Engine::TargetEntry {
  ServerPolicyConfig config;
  std::unique_ptr<ServerSizer> sizer;
  std::vector<ServerModelDemand> models;  // rebuilt every cycle
  bool fresh = true;
  HistorySums history_sums;
};

}  // namespace lagscale::coordinator
