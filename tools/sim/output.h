#pragma once

// Printing simulator results: a JSON object (--json) or a table a person reads.
// Thread safety: pure functions.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autoscaler.h"
#include "runner.h"

namespace lagscale::sim {

nlohmann::json ResultsJson(const std::string& trace_path, const SimParams& params,
                           const std::vector<PolicyResult>& results);
// Sweep mode: lagscale at each target utilization in `utilizations` (its main knob), every other
// policy in `names` once at params.target_utilization; JSON with "sweep" and "policies".
nlohmann::json SweepJson(const std::string& trace_path, const Trace& trace, const SimParams& params,
                         const std::vector<std::string>& names,
                         const std::vector<double>& utilizations);
std::string ResultsTable(const std::string& trace_path, const SimParams& params,
                         const std::vector<PolicyResult>& results);

}  // namespace lagscale::sim
