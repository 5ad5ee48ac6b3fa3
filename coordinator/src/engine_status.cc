// Builds the immutable /status snapshot from the loop's state (runs on the loop thread).
#include <algorithm>
#include <map>

#include "engine_state.h"
#include "lagscale/coordinator/engine.h"
#include "status_keda.h"

namespace lagscale::coordinator {
namespace {

LlmStatus Llm(const ModelDemand& d, double rate_window_s) {
  LlmStatus llm;
  llm.prompt_tokens_per_s = d.PromptTokenRate(rate_window_s);
  llm.completion_tokens_per_s = d.TokenRate(rate_window_s);
  llm.prompt_tokens_total = d.PromptTokensTotal();
  llm.completion_tokens_total = d.CompletionTokensTotal();
  llm.first_byte_window_s = ModelDemand::kFirstByteHistory_s;
  llm.first_byte_count = d.FirstByteCount(llm.first_byte_window_s);
  llm.first_byte_p50_s = d.FirstByteQuantile(0.5, llm.first_byte_window_s);
  llm.first_byte_p99_s = d.FirstByteQuantile(0.99, llm.first_byte_window_s);
  return llm;
}

// Pods and their summed in-flight requests, per server.
using ServerPods = std::map<std::string, std::pair<std::vector<std::string>, double>>;

ServerPods PodsByServer(const std::vector<PodView>& pods) {
  ServerPods by_server;
  for (const auto& p : pods) {
    auto& [names, inflight] = by_server[p.server];
    names.push_back(p.pod);
    inflight += static_cast<double>(p.inflight);
  }
  return by_server;
}

bool Unhealthy(const ActuationState& a) { return a.status == "failed" || a.status == "retry"; }

template <typename T>
void SortByName(std::vector<T>& v) {
  std::sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.name < b.name; });
}

}  // namespace

void Engine::PublishStatus() {
  auto s = std::make_shared<StatusSnapshot>();
  FillStatusCounters(*s);
  bool healthy = true;
  s->models.reserve(models_.size());
  for (const auto& [name, e] : models_) {
    s->models.push_back(ModelStatusOf(*e));
    healthy = healthy && !Unhealthy(e->actuation);
  }
  SortByName(s->models);
  const ServerPods server_pods = PodsByServer(s->pods);
  for (const auto& [name, e] : servers_) {
    const auto it = server_pods.find(name);
    s->servers.push_back(it == server_pods.end()
                             ? ServerStatusOf(*e, {}, 0)
                             : ServerStatusOf(*e, it->second.first, it->second.second));
    healthy = healthy && !Unhealthy(e->actuation);
  }
  SortByName(s->servers);
  s->actuator.healthy = healthy;
  if (options_.scaler_view) AttachKedaReads(*s, options_.scaler_view->Reads());

  std::lock_guard lock(status_mu_);
  status_ = std::move(s);
}

void Engine::FillStatusCounters(StatusSnapshot& s) const {
  s.time_unix_ms = NowUnixMs();
  s.windows_s = config_->windows_s;
  s.pods = aggregator_.Pods();
  s.recent_decisions = recent_;
  s.reports_received = received_;
  s.reports_applied = applied_;
  s.reports_ignored = ignored_;
  s.restarts = restarts_;
  s.expired = expired_;
  s.limits = aggregator_.limits();
  s.refusals = aggregator_.refusals();
  s.actuator = health_;
  if (options_.leadership) s.leadership = options_.leadership->Status();
  s.hand_over_hold_s = std::max(0.0, static_cast<double>(hand_over_until_ns_ - NowNs()) / 1e9);
}

ModelStatus Engine::ModelStatusOf(const ModelEntry& e) const {
  ModelStatus m;
  m.name = e.name();
  m.server = e.server;
  m.policy = PolicyKindName(e.config.kind);
  m.min = e.config.min_replicas;
  m.max = e.config.max_replicas;
  m.desired = e.desired;
  const int hosting = e.demand ? static_cast<int>(e.demand->hosting_pods()) : 0;
  m.current = e.Current(hosting, m.min, m.max);
  if (e.demand) {
    const ModelDemand& d = *e.demand;
    m.inflight = d.Inflight();
    m.arrivals_total = d.ArrivalsTotal();
    m.completions_total = d.CompletionsTotal();
    for (double w : config_->windows_s) m.concurrency.emplace_back(w, d.AverageConcurrency(w));
    const double rate_window = config_->windows_s.empty() ? 10 : config_->windows_s.front();
    m.arrival_rate = d.ArrivalRate(rate_window);
    m.completion_rate = d.CompletionRate(rate_window);
    if (d.llm()) m.llm = Llm(d, rate_window);
    m.idle_s = d.IdleSeconds();
    m.data_age_s = d.DataAgeSeconds();
    m.pods = d.HostingPods();
  } else {
    for (double w : config_->windows_s) m.concurrency.emplace_back(w, 0.0);
    m.idle_s = m.data_age_s = std::numeric_limits<double>::infinity();
  }
  m.fresh = e.fresh;
  m.last_decision = e.last;
  m.actuation = e.actuation;
  m.actuated_by = ActuatedByName(config_->ModelActuator(e.name()));
  return m;
}

ServerStatus Engine::ServerStatusOf(const ServerEntry& e, const std::vector<std::string>& pods,
                                    double inflight) const {
  ServerStatus v;
  v.name = e.name();
  v.placement = PlacementName(e.config.placement);
  v.min = e.config.min_replicas;
  v.max = e.config.max_replicas;
  v.desired = e.desired;
  v.pods = pods;
  v.inflight = inflight;
  v.current = e.Current(static_cast<int>(v.pods.size()), v.min, v.max);
  for (const auto& md : e.models) v.models.push_back(md.model);
  std::sort(v.models.begin(), v.models.end());
  v.last_decision = e.last;
  v.actuation = e.actuation;
  v.actuated_by = ActuatedByName(config_->ServerActuator(e.name()));
  return v;
}

}  // namespace lagscale::coordinator
