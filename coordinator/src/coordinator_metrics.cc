// lagscale_coordinator_* series on a prometheus-cpp registry, rendered by TextSerializer.
#include "lagscale/coordinator/coordinator_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <unordered_map>

namespace lagscale::coordinator {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

struct CoordinatorMetrics::State {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& reports =
      BuildCounter()
          .Name("lagscale_coordinator_reports_total")
          .Help("Pod reports received, by what applying them did")
          .Register(registry);
  prometheus::Counter& model_reports =
      BuildCounter()
          .Name("lagscale_coordinator_model_reports_total")
          .Help("Per-model counter sets inside applied pod reports")
          .Register(registry)
          .Add({});
  prometheus::Counter& expired =
      BuildCounter()
          .Name("lagscale_coordinator_pods_expired_total")
          .Help("Pods expired after staying silent longer than reportTTL")
          .Register(registry)
          .Add({});
  prometheus::Gauge& pods = BuildGauge()
                                .Name("lagscale_coordinator_pods")
                                .Help("Pods currently reporting")
                                .Register(registry)
                                .Add({});
  prometheus::Family<prometheus::Gauge>& model_desired =
      BuildGauge()
          .Name("lagscale_coordinator_model_desired_replicas")
          .Help("Replicas the policy wants per model")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& model_current =
      BuildGauge()
          .Name("lagscale_coordinator_model_current_replicas")
          .Help("Replicas per model as last known")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& server_desired =
      BuildGauge()
          .Name("lagscale_coordinator_server_desired_replicas")
          .Help("Replicas the sizer wants per server")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& server_current =
      BuildGauge()
          .Name("lagscale_coordinator_server_current_replicas")
          .Help("Replicas per server as last known")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& decisions =
      BuildCounter()
          .Name("lagscale_coordinator_decisions_total")
          .Help("Replica changes decided, by direction")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& actuations =
      BuildCounter()
          .Name("lagscale_coordinator_actuations_total")
          .Help("Actuation attempts, by result (ok, retry, failed, skipped)")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& actuation_errors =
      BuildCounter()
          .Name("lagscale_coordinator_actuation_errors_total")
          .Help("Failed actuation attempts by HTTP status (0 = no response)")
          .Register(registry);
  prometheus::Gauge& cycle = BuildGauge()
                                 .Name("lagscale_coordinator_decision_cycle_seconds")
                                 .Help("Duration of the last decision cycle")
                                 .Register(registry)
                                 .Add({});
  prometheus::Family<prometheus::Counter>& reloads =
      BuildCounter()
          .Name("lagscale_coordinator_config_reloads_total")
          .Help("Configuration reloads (SIGHUP), by result")
          .Register(registry);
  prometheus::Gauge& streams = BuildGauge()
                                   .Name("lagscale_coordinator_report_streams")
                                   .Help("Open sidecar report streams")
                                   .Register(registry)
                                   .Add({});
  prometheus::Counter& unauthenticated =
      BuildCounter()
          .Name("lagscale_coordinator_unauthenticated_streams_total")
          .Help("Report streams refused for a missing or wrong bearer token")
          .Register(registry)
          .Add({});
  prometheus::Counter& shed =
      BuildCounter()
          .Name("lagscale_coordinator_reports_shed_total")
          .Help(
              "Reports dropped unacknowledged because the decision loop's queue was full (a "
              "flood); the pod's next report carries the same cumulative counters")
          .Register(registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& injections =
      BuildCounter()
          .Name("lagscale_coordinator_injections_total")
          .Help("Admission reviews answered by the injection webhook, by what was done")
          .Register(registry);

  prometheus::Family<prometheus::Counter>& refusals =
      BuildCounter()
          .Name("lagscale_coordinator_report_refusals_total")
          .Help(
              "Report contents refused: model_limit (models beyond limits.maxModels or "
              "maxModelsPerPod), pod_limit (pods beyond limits.maxPods), absurd_values "
              "(whole reports rejected)")
          .Register(registry);
  prometheus::Counter* refused[3] = {&refusals.Add({{"reason", "model_limit"}}),
                                     &refusals.Add({{"reason", "pod_limit"}}),
                                     &refusals.Add({{"reason", "absurd_values"}})};

  // Leader election: series appear only when it is on (a lone coordinator has no leadership).
  prometheus::Family<prometheus::Gauge>& is_leader =
      BuildGauge()
          .Name("lagscale_coordinator_is_leader")
          .Help("1 while this coordinator holds the leader Lease and may actuate")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& leader_transitions =
      BuildCounter()
          .Name("lagscale_coordinator_leader_transitions_total")
          .Help("Times this coordinator became leader or stopped leading")
          .Register(registry);
  prometheus::Counter& not_leader =
      BuildCounter()
          .Name("lagscale_coordinator_not_leader_streams_total")
          .Help("Report streams answered UNAVAILABLE because this coordinator does not lead")
          .Register(registry)
          .Add({});
  prometheus::Gauge* is_leader_series = nullptr;
  prometheus::Counter* transitions_series = nullptr;

  prometheus::Counter* outcome[8] = {};
  std::unordered_map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>> models,
      servers;
};

CoordinatorMetrics::CoordinatorMetrics() : state_(std::make_unique<State>()) {
  const char* names[8] = {"applied",      "baseline", "restart", "duplicate",
                          "out_of_order", "invalid",  "refused", "rejected"};
  for (int i = 0; i < 8; ++i) state_->outcome[i] = &state_->reports.Add({{"result", names[i]}});
  // Every fixed label value is exported from start at 0, so increase() alerts see 0, not no data.
  for (const char* direction : {"up", "down"}) state_->decisions.Add({{"direction", direction}});
  for (const char* result : {"ok", "retry", "failed", "skipped"}) {
    state_->actuations.Add({{"result", result}});
  }
  for (const char* result : {"ok", "error"}) state_->reloads.Add({{"result", result}});
  // The webhook's answers: injector.h OutcomeName's values, then the review-level ones.
  for (const char* result :
       {"injected", "skipped_opt_out", "skipped_host_network", "skipped_already_injected",
        "skipped_own_pod", "skipped_bad_annotation", "skipped_invalid_pod", "ignored",
        "invalid_review"}) {
    state_->injections.Add({{"result", result}});
  }
}

CoordinatorMetrics::~CoordinatorMetrics() = default;

void CoordinatorMetrics::OnReport(Aggregator::Outcome outcome, size_t models) {
  state_->outcome[static_cast<int>(outcome)]->Increment();
  if (outcome == Aggregator::Outcome::kApplied)
    state_->model_reports.Increment(static_cast<double>(models));
}

void CoordinatorMetrics::OnPodsExpired(int n) { state_->expired.Increment(n); }
void CoordinatorMetrics::SetPods(size_t n) { state_->pods.Set(static_cast<double>(n)); }

void CoordinatorMetrics::SetModelReplicas(const std::string& model, int current, int desired) {
  auto [it, added] = state_->models.try_emplace(model);
  if (added) {
    it->second = {&state_->model_current.Add({{"model", model}}),
                  &state_->model_desired.Add({{"model", model}})};
  }
  it->second.first->Set(current);
  it->second.second->Set(desired);
}

void CoordinatorMetrics::ForgetModel(const std::string& model) {
  auto it = state_->models.find(model);
  if (it == state_->models.end()) return;
  state_->model_current.Remove(it->second.first);
  state_->model_desired.Remove(it->second.second);
  state_->models.erase(it);
}

void CoordinatorMetrics::OnRefusals(uint64_t models, uint64_t pods, uint64_t values) {
  state_->refused[0]->Increment(static_cast<double>(models));
  state_->refused[1]->Increment(static_cast<double>(pods));
  state_->refused[2]->Increment(static_cast<double>(values));
}

void CoordinatorMetrics::SetServerReplicas(const std::string& server, int current, int desired) {
  auto [it, added] = state_->servers.try_emplace(server);
  if (added) {
    it->second = {&state_->server_current.Add({{"server", server}}),
                  &state_->server_desired.Add({{"server", server}})};
  }
  it->second.first->Set(current);
  it->second.second->Set(desired);
}

void CoordinatorMetrics::OnDecision(Direction direction) {
  if (direction == Direction::kHold) return;
  state_->decisions.Add({{"direction", direction == Direction::kUp ? "up" : "down"}}).Increment();
}

void CoordinatorMetrics::OnActuation(const char* result, int http_status) {
  state_->actuations.Add({{"result", result}}).Increment();
  if (std::string_view(result) == "failed" || std::string_view(result) == "retry") {
    state_->actuation_errors.Add({{"code", std::to_string(http_status)}}).Increment();
  }
}

void CoordinatorMetrics::SetDecisionCycleSeconds(double s) { state_->cycle.Set(s); }
void CoordinatorMetrics::OnReload(bool ok) {
  state_->reloads.Add({{"result", ok ? "ok" : "error"}}).Increment();
}
void CoordinatorMetrics::OnStreamOpened() { state_->streams.Increment(); }
void CoordinatorMetrics::OnStreamClosed() { state_->streams.Decrement(); }
void CoordinatorMetrics::OnUnauthenticated() { state_->unauthenticated.Increment(); }
void CoordinatorMetrics::OnReportShed() { state_->shed.Increment(); }
void CoordinatorMetrics::OnInjection(const char* result) {
  state_->injections.Add({{"result", result}}).Increment();
}

void CoordinatorMetrics::OnNotLeader() { state_->not_leader.Increment(); }

void CoordinatorMetrics::SetLeadership(bool leading, uint64_t transitions) {
  State& s = *state_;
  if (!s.is_leader_series) {
    s.is_leader_series = &s.is_leader.Add({});
    s.transitions_series = &s.leader_transitions.Add({});
  }
  s.is_leader_series->Set(leading ? 1 : 0);
  const double seen = s.transitions_series->Value();
  if (static_cast<double>(transitions) > seen) {
    s.transitions_series->Increment(static_cast<double>(transitions) - seen);
  }
}

std::string CoordinatorMetrics::Render() const {
  return prometheus::TextSerializer().Serialize(state_->registry.Collect());
}

}  // namespace lagscale::coordinator
