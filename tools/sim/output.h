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
std::string ResultsTable(const std::string& trace_path, const SimParams& params,
                         const std::vector<PolicyResult>& results);

}  // namespace lagscale::sim
