#pragma once

// Internal to the aggregator (aggregator.cc, aggregator_first_byte.cc): what it keeps per pod.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lagscale/coordinator/aggregator.h"

namespace lagscale::coordinator {

// One model's counters as last applied from one pod incarnation.
struct PodModel {
  PodState* pod = nullptr;
  ModelDemand* model = nullptr;
  size_t index = 0;  // position in model->hosts_
  uint64_t arrivals = 0;
  uint64_t completions = 0;
  double busy = 0;
  int64_t inflight = 0;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t listed = 0;  // the Aggregator generation of the last report that listed the model
  std::vector<uint64_t> first_bytes;  // cumulative per histogram bucket
};

struct PodState {
  std::string server, pod;
  uint64_t incarnation = 0;
  uint64_t superseded = 0;          // the incarnation before the last restart (0: none)
  uint64_t superseded_reports = 0;  // reports from it since that restart
  uint64_t sequence = 0;
  int64_t last_snapshot_ns = 0;
  int64_t offset_ns = 0;      // coordinator clock - sidecar clock (smallest seen: least delay)
  int64_t last_point_ns = 0;  // coordinator time the last applied snapshot maps to
  int64_t last_recv_ns = 0;
  int64_t interval_ns = 1'000'000'000;  // smoothed spacing of regular (non-early) reports
  int64_t inflight = 0;                 // the sum of models' inflight, kept as they change
  std::unordered_map<std::string, PodModel> models;
};

}  // namespace lagscale::coordinator
