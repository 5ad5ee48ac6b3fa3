#include <nlohmann/json.hpp>

#include "lagscale/metrics/exposition.h"

namespace lagscale::metrics {

namespace {

nlohmann::json ToJson(const ModelStats& s) {
  nlohmann::json outcomes = nlohmann::json::object();
  for (size_t o = 0; o < kOutcomeCount; ++o) {
    outcomes[std::string(OutcomeName(static_cast<Outcome>(o)))] = s.outcomes[o];
  }
  return {
      {"arrivals", s.arrivals},
      {"completions", s.completions()},
      {"inflight", s.inflight()},
      {"busy_seconds", s.busy_seconds},
      {"duration_seconds_sum", s.duration_seconds_sum},
      {"outcomes", std::move(outcomes)},
      {"last_request_unix", static_cast<double>(s.last_request_unix_ns) * 1e-9},
      {"ttfb_count", s.ttfb_count()},
      {"ttfb_seconds_sum", s.ttfb_seconds_sum},
      {"prompt_tokens", s.prompt_tokens},
      {"completion_tokens", s.completion_tokens},
  };
}

}  // namespace

std::string StatsJson(const LedgerSnapshot& snapshot) {
  nlohmann::json models = nlohmann::json::object();
  for (const auto& [name, stats] : snapshot.models) models[name] = ToJson(stats);
  nlohmann::json doc = {
      {"snapshot_unix", static_cast<double>(snapshot.unix_ns) * 1e-9},
      {"models", std::move(models)},
      {"unattributed", ToJson(snapshot.unattributed)},
      {"overflow", ToJson(snapshot.overflow)},
      {"tracked_models", snapshot.models.size()},
      {"max_models", snapshot.max_models},
      {"overflow_requests", snapshot.overflowed_lookups},
      {"invalid_names", snapshot.invalid_names},
  };
  return doc.dump();
}

}  // namespace lagscale::metrics
