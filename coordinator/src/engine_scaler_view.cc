// Engine::PublishScalerView: the numbers KEDA's external scaler serves, rebuilt on the loop
// thread right after reports are applied so activity reaches StreamIsActive within milliseconds.
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "engine_state.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {

struct Engine::ScalerViewState {
  int64_t last_ns = INT64_MIN / 2;
  // Per pod (server/pod): the first (incarnation, sequence) seen, and whether a later report came.
  struct Seen {
    uint64_t incarnation = 0, sequence = 0;
    bool settled = false;
  };
  std::unordered_map<std::string, Seen> pods;
  std::unordered_set<std::string> settled_models;  // fresh at least once while reported
  std::shared_ptr<const ScalerView> last;
};

namespace {

constexpr int64_t kMinIntervalNs = 10'000'000;  // without new reports, rebuild every 10 ms at most

bool SameActivity(const ScalerView& a, const ScalerView& b) {
  if (a.fresh != b.fresh) return false;
  auto same = [](const auto& x, const auto& y) {
    if (x.size() != y.size()) return false;
    for (const auto& [name, t] : x) {
      auto it = y.find(name);
      if (it == y.end() || it->second.active != t.active || it->second.available != t.available)
        return false;
    }
    return true;
  };
  return same(a.models, b.models) && same(a.servers, b.servers);
}

}  // namespace

void Engine::PublishScalerView(bool force) {
  if (!options_.scaler_view) return;
  if (!scaler_state_) scaler_state_ = std::make_shared<ScalerViewState>();
  ScalerViewState& st = *scaler_state_;
  const int64_t now_ns = NowNs();
  if (!force && now_ns - st.last_ns < kMinIntervalNs) return;
  st.last_ns = now_ns;
  // The aggregator's clock moves with reports and decisions; the view is built for now.
  const double lag_s = static_cast<double>(now_ns - aggregator_.now_ns()) / 1e9;

  auto view = std::make_shared<ScalerView>();
  view->time_unix_ms = NowUnixMs();
  view->default_target_concurrency = config_->defaults.tracking.target_concurrency;
  const auto server_inflight = ScanPods(st, *view, lag_s);
  AddReportedModels(st, *view, lag_s);
  AddConfiguredModels(*view);
  AddServers(*view, server_inflight);

  const bool changed = !st.last || !SameActivity(*st.last, *view);
  st.last = view;
  options_.scaler_view->Publish(std::move(view), changed);
}

// The view is fresh once some live pod has reported twice (its first report is a baseline)
// within reportTTL.
std::unordered_map<std::string, double> Engine::ScanPods(ScalerViewState& st, ScalerView& view,
                                                         double lag_s) const {
  std::unordered_map<std::string, double> server_inflight;
  std::unordered_set<std::string> live;
  for (const PodView& p : aggregator_.Pods()) {
    const std::string key = p.server + '/' + p.pod;
    live.insert(key);
    auto [it, inserted] =
        st.pods.try_emplace(key, ScalerViewState::Seen{p.incarnation, p.sequence});
    if (!inserted && (it->second.incarnation != p.incarnation || it->second.sequence != p.sequence))
      it->second.settled = true;
    server_inflight[p.server] += static_cast<double>(p.inflight);
    if (it->second.settled && p.report_age_s + lag_s < config_->report_ttl_s) view.fresh = true;
  }
  std::erase_if(st.pods, [&](const auto& kv) { return !live.count(kv.first); });
  if (!view.fresh) {
    view.not_fresh_reason = live.empty()
                                ? "no sidecar has reported within reportTTL"
                                : "no sidecar has reported twice since the coordinator started";
  }
  return server_inflight;
}

void Engine::AddReportedModels(ScalerViewState& st, ScalerView& view, double lag_s) const {
  for (const auto& [name, demand] : aggregator_.models()) {
    if (demand->hosting_pods() == 0) {
      st.settled_models.erase(name);
      continue;
    }
    const auto entry = models_.find(name);
    const ModelConfig* mc = config_->FindModel(name);
    const ModelPolicyConfig& pc = entry != models_.end() ? entry->second->config
                                  : mc                   ? mc->policy
                                                         : config_->defaults;
    if (demand->Fresh()) st.settled_models.insert(name);
    ScalerTargetView t;
    t.keda = config_->ModelActuator(name) == ActuatedBy::kKeda;
    t.reported = true;
    t.desired = entry != models_.end() ? entry->second->desired : -1;
    t.available = view.fresh && st.settled_models.count(name) && t.desired >= 0;
    t.inflight = demand->Inflight();
    t.concurrency = demand->AverageConcurrency(pc.tracking.stable_window_s);
    t.target_concurrency = pc.tracking.target_concurrency;
    double idle = demand->IdleSeconds();
    if (std::isfinite(idle) && idle > 0) idle += lag_s;
    t.active = t.inflight > 0 || idle < pc.lag.idle_window_s;
    view.models.emplace(name, t);
  }
}

// Configured models nobody reports yet: idle, but their per-replica target is already known.
void Engine::AddConfiguredModels(ScalerView& view) const {
  for (const ModelConfig& m : config_->models) {
    ScalerTargetView t;
    t.keda = m.actuator == ActuatedBy::kKeda;
    t.target_concurrency = m.policy.tracking.target_concurrency;
    view.models.try_emplace(m.name, t);
  }
}

// A server is active when any model it hosts is, and available when all of them are.
void Engine::AddServers(ScalerView& view,
                        const std::unordered_map<std::string, double>& server_inflight) const {
  for (const auto& [name, s] : servers_) {
    ScalerTargetView t;
    t.keda = config_->ServerActuator(name) == ActuatedBy::kKeda;
    t.desired = s->desired;
    t.target_concurrency = config_->defaults.tracking.target_concurrency;
    if (auto it = server_inflight.find(name); it != server_inflight.end()) {
      t.reported = true;
      t.inflight = it->second;
    }
    bool any_model = false, models_available = true;
    for (const ServerModelDemand& md : s->models) {
      auto it = view.models.find(md.model);
      if (it == view.models.end()) continue;
      any_model = true;
      models_available = models_available && it->second.available;
      t.concurrency += it->second.concurrency;
      t.active = t.active || it->second.active;
    }
    t.active = t.active || t.inflight > 0;
    t.available = view.fresh && t.desired >= 0 && (!any_model || models_available);
    view.servers.emplace(name, t);
  }
}

}  // namespace lagscale::coordinator
