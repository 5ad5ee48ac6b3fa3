#pragma once

// Per-model and per-server state the decision loop keeps between cycles (private to the engine).

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

struct Engine::ModelEntry {
  std::string name;
  ModelPolicyConfig config;  // effective: file config (or defaults) + Seldon bounds
  std::string config_server;
  std::optional<ScaleTarget> target;
  std::optional<int> seldon_min, seldon_max;
  std::unique_ptr<ModelPolicy> policy;
  ModelDemand* demand = nullptr;  // owned by the aggregator; null until the model reports
  std::string server;             // effective server
  struct ServerEntry* server_entry = nullptr;  // cached Server(server); entries are never freed
  int desired = -1, observed = -1, submitted = -1;
  bool fresh = false;
  std::optional<DecisionRecord> last;
  ActuationState actuation;
  HistoryTicket history;
};

struct Engine::ServerEntry {
  std::string name;
  ServerPolicyConfig config;
  std::optional<ScaleTarget> target;
  std::optional<int> seldon_min, seldon_max;
  std::unique_ptr<ServerSizer> sizer;
  std::vector<ServerModelDemand> models;  // rebuilt every cycle
  bool fresh = true;
  int desired = -1, observed = -1, submitted = -1;
  std::optional<DecisionRecord> last;
  ActuationState actuation;
  HistoryTicket history;
  HistorySums history_sums;
};

}  // namespace lagscale::coordinator
