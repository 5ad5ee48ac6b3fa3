// The engine's side of the report limits: its roster follows the aggregator's (models forgotten
// there are dropped here unless configured), and refusals are counted and logged at a bounded rate.
#include <spdlog/spdlog.h>

#include "engine_state.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {
namespace {

constexpr int64_t kRefusalLogIntervalNs = 10'000'000'000;

}  // namespace

void Engine::RebuildRoster() {
  for (auto& [name, e] : models_) e->demand = nullptr;
  for (const auto& m : config_->models) Model(m.name);
  for (const auto& s : config_->servers) Server(s.name);
  for (const auto& [name, demand] : aggregator_.models()) Model(name).demand = demand.get();
  for (auto it = models_.begin(); it != models_.end();) {
    if (!it->second->demand && !config_->FindModel(it->first)) {
      if (options_.metrics) options_.metrics->ForgetModel(it->first);
      it = models_.erase(it);
    } else {
      ++it;
    }
  }
  model_order_.clear();
  for (auto& [name, e] : models_) model_order_.push_back(e.get());
}

void Engine::ReportRefusals() {
  const Aggregator::Refusals& now = aggregator_.refusals();
  if (options_.metrics) {
    options_.metrics->OnRefusals(now.models - refusals_logged_.models,
                                 now.pods - refusals_logged_.pods,
                                 now.values - refusals_logged_.values);
  }
  refusals_seen_ = now.models + now.pods + now.values;
  const int64_t t = NowNs();
  if (t - last_refusal_log_ns_ >= kRefusalLogIntervalNs) {
    spdlog::warn(
        "refusing report contents: {} model entries (limits.maxModels {}, maxModelsPerPod {}), {} "
        "pods (limits.maxPods {}), {} reports with absurd values so far; latest: {}",
        now.models, aggregator_.limits().max_models, aggregator_.limits().max_models_per_pod,
        now.pods, aggregator_.limits().max_pods, now.values, now.last);
    last_refusal_log_ns_ = t;
  }
  refusals_logged_.models = now.models;
  refusals_logged_.pods = now.pods;
  refusals_logged_.values = now.values;
}

}  // namespace lagscale::coordinator
