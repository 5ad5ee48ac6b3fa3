#pragma once

// StatusSnapshot: what /status shows, built by the decision loop and published as an immutable
// value; the HTTP thread only renders it. Field names in the JSON are stable (docs/coordinator.md).
// Thread safety: a snapshot is immutable once published; the JSON functions are pure.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lagscale/coordinator/aggregator.h"
#include "lagscale/coordinator/leader_election.h"
#include "lagscale/coordinator/scaler_view.h"

namespace lagscale::coordinator {

struct DecisionRecord {
  std::string kind;  // "model" | "server"
  std::string name;
  int64_t time_unix_ms = 0;
  int from = 0;
  int to = 0;
  std::string reason;
};

struct ActuationState {
  std::string status;  // "", "ok", "retry", "failed", "skipped"
  int http_status = 0;
  std::string error;
  int64_t time_unix_ms = 0;
};

// What a model serving LLM traffic (answers with `usage` tokens or a first-byte time) shows more.
struct LlmStatus {
  double prompt_tokens_per_s = 0, completion_tokens_per_s = 0;    // over the rate window
  uint64_t prompt_tokens_total = 0, completion_tokens_total = 0;  // the hosting pods' ledgers
  double first_byte_window_s = 0;
  uint64_t first_byte_count = 0;  // answers whose first byte came inside that window
  std::optional<double> first_byte_p50_s, first_byte_p99_s;
};

struct ModelStatus {
  std::string name, server, policy;
  int current = 0, desired = 0, min = 0, max = 0;
  double inflight = 0;
  uint64_t arrivals_total = 0, completions_total = 0;  // summed over the hosting pods' ledgers
  std::vector<std::pair<double, double>> concurrency;  // (window seconds, average)
  double arrival_rate = 0, completion_rate = 0;
  std::optional<LlmStatus> llm;
  double idle_s = 0, data_age_s = 0;  // +infinity when unknown
  bool fresh = false;
  // The hosting pods, sorted; shared with the model's own copy until they change. Null: none.
  std::shared_ptr<const std::vector<std::string>> pods;
  std::optional<DecisionRecord> last_decision;
  ActuationState actuation;
  std::string actuated_by = "coordinator";  // "coordinator" | "keda"
  std::optional<KedaRead> keda_read;        // the newest value KEDA read (GetMetrics)
};

struct ServerStatus {
  std::string name, placement;
  int current = 0, desired = 0, min = 0, max = 0;
  double inflight = 0;
  std::vector<std::string> pods;
  std::vector<std::string> models;
  std::optional<DecisionRecord> last_decision;
  ActuationState actuation;
  std::string actuated_by = "coordinator";
  std::optional<KedaRead> keda_read;
};

struct ActuatorHealth {
  std::string name;
  uint64_t succeeded = 0, retried = 0, failed = 0;
  std::optional<std::pair<std::string, ActuationState>> last_error;  // (target key, state)
  bool healthy = true;  // false while any target's latest actuation failed or is retrying
};

struct StatusSnapshot {
  int64_t time_unix_ms = 0;
  std::vector<double> windows_s;
  std::vector<ModelStatus> models;
  std::vector<ServerStatus> servers;
  std::vector<PodView> pods;
  ActuatorHealth actuator;
  std::deque<DecisionRecord> recent_decisions;  // newest first
  std::vector<KedaRead> keda_reads;             // what KEDA asked about and was told
  std::optional<LeadershipStatus> leadership;   // set with leader election
  double hand_over_hold_s = 0;                  // seconds a new leader still holds scale-down
  uint64_t reports_received = 0, reports_applied = 0, reports_ignored = 0, restarts = 0,
           expired = 0;
  LimitsConfig limits;
  Aggregator::Refusals refusals;
};

std::string StatusJson(const StatusSnapshot& status);
// nullopt when the model is unknown.
std::optional<std::string> ModelStatusJson(const StatusSnapshot& status, const std::string& name);

}  // namespace lagscale::coordinator
