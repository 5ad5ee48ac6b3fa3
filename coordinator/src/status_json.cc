// /status and /status/models/{name} documents (field reference: docs/coordinator.md).
#include <cmath>
#include <nlohmann/json.hpp>

#include "lagscale/coordinator/status.h"
#include "status_keda.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

// JSON has no infinity: unknown ages and never-seen idle times are null.
json Finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string WindowKey(double s) {
  if (s >= 1 && std::floor(s) == s) return std::to_string(static_cast<long long>(s)) + "s";
  return std::to_string(static_cast<long long>(std::llround(s * 1000))) + "ms";
}

json DecisionJson(const std::optional<DecisionRecord>& d) {
  if (!d) return nullptr;
  return {
      {"time_unix_ms", d->time_unix_ms}, {"from", d->from}, {"to", d->to}, {"reason", d->reason}};
}

json Actuation(const ActuationState& a) {
  if (a.status.empty()) return nullptr;
  return {{"status", a.status},
          {"http_status", a.http_status},
          {"error", a.error},
          {"time_unix_ms", a.time_unix_ms}};
}

json LeadershipJson(const LeadershipStatus& l, double hold_s) {
  return {{"identity", l.identity},
          {"lease", l.lease},
          {"leading", l.leading},
          {"holder", l.holder},
          {"lease_transitions", l.lease_transitions},
          {"acquired", l.acquired},
          {"lost", l.lost},
          {"leading_since_unix_ms", l.leading_since_unix_ms},
          {"hand_over_hold_s", hold_s},
          {"last_error", l.last_error}};
}

json Llm(const std::optional<LlmStatus>& llm) {
  if (!llm) return nullptr;
  auto seconds = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  return {{"prompt_tokens_per_second", llm->prompt_tokens_per_s},
          {"completion_tokens_per_second", llm->completion_tokens_per_s},
          {"prompt_tokens_total", llm->prompt_tokens_total},
          {"completion_tokens_total", llm->completion_tokens_total},
          {"time_to_first_byte",
           {{"window_seconds", llm->first_byte_window_s},
            {"count", llm->first_byte_count},
            {"p50_seconds", seconds(llm->first_byte_p50_s)},
            {"p99_seconds", seconds(llm->first_byte_p99_s)}}}};
}

json Model(const ModelStatus& m) {
  json concurrency = json::object();
  for (const auto& [w, v] : m.concurrency) concurrency[WindowKey(w)] = v;
  return {{"name", m.name},
          {"server", m.server},
          {"policy", m.policy},
          {"current_replicas", m.current},
          {"desired_replicas", m.desired},
          {"min_replicas", m.min},
          {"max_replicas", m.max},
          {"inflight", m.inflight},
          {"arrivals_total", m.arrivals_total},
          {"completions_total", m.completions_total},
          {"concurrency", concurrency},
          {"arrival_rate", m.arrival_rate},
          {"completion_rate", m.completion_rate},
          {"llm", Llm(m.llm)},
          {"idle_seconds", Finite(m.idle_s)},
          {"data_age_seconds", Finite(m.data_age_s)},
          {"fresh", m.fresh},
          {"pods", m.pods ? json(*m.pods) : json::array()},
          {"last_decision", DecisionJson(m.last_decision)},
          {"actuation", Actuation(m.actuation)},
          {"actuated_by", m.actuated_by},
          {"keda", KedaReadJson(m.keda_read)}};
}

json ServerJson(const ServerStatus& v) {
  return {{"name", v.name},
          {"placement", v.placement},
          {"current_replicas", v.current},
          {"desired_replicas", v.desired},
          {"min_replicas", v.min},
          {"max_replicas", v.max},
          {"inflight", v.inflight},
          {"reporting_pods", v.pods.size()},
          {"pods", v.pods},
          {"models", v.models},
          {"last_decision", DecisionJson(v.last_decision)},
          {"actuation", Actuation(v.actuation)},
          {"actuated_by", v.actuated_by},
          {"keda", KedaReadJson(v.keda_read)}};
}

json PodJson(const PodView& p) {
  return {{"server", p.server},
          {"pod", p.pod},
          {"incarnation", std::to_string(p.incarnation)},
          {"sequence", p.sequence},
          {"last_report_age_seconds", p.report_age_s},
          {"inflight", p.inflight},
          {"models", p.models}};
}

json DecisionEntryJson(const DecisionRecord& d) {
  return {{"kind", d.kind}, {"name", d.name}, {"time_unix_ms", d.time_unix_ms},
          {"from", d.from}, {"to", d.to},     {"reason", d.reason}};
}

json ActuatorJson(const ActuatorHealth& a) {
  json last_error = nullptr;
  if (a.last_error) {
    last_error = Actuation(a.last_error->second);
    last_error["target"] = a.last_error->first;
  }
  return {{"name", a.name},       {"healthy", a.healthy}, {"succeeded", a.succeeded},
          {"retried", a.retried}, {"failed", a.failed},   {"last_error", last_error}};
}

// What came in, and what the report limits refused so far with the limits in force
// (docs/coordinator.md).
json ReportsJson(const StatusSnapshot& s) {
  return {{"received", s.reports_received},
          {"applied", s.reports_applied},
          {"ignored", s.reports_ignored},
          {"restarts", s.restarts},
          {"expired_pods", s.expired},
          {"refused_models", s.refusals.models},
          {"refused_pods", s.refusals.pods},
          {"rejected_values", s.refusals.values},
          {"last_refusal", s.refusals.last.empty() ? json(nullptr) : json(s.refusals.last)}};
}

json LimitsJson(const LimitsConfig& l) {
  return {{"max_models", l.max_models},
          {"max_pods", l.max_pods},
          {"max_models_per_pod", l.max_models_per_pod}};
}

// A JSON array of `to_json(item)` for every item.
template <typename Items, typename ToJson>
json Array(const Items& items, ToJson to_json) {
  json out = json::array();
  for (const auto& item : items) out.push_back(to_json(item));
  return out;
}

}  // namespace

std::string StatusJson(const StatusSnapshot& s) {
  json doc = {{"time_unix_ms", s.time_unix_ms},
              {"windows", Array(s.windows_s, WindowKey)},
              {"actuator", ActuatorJson(s.actuator)},
              {"reports", ReportsJson(s)},
              {"limits", LimitsJson(s.limits)},
              {"models", Array(s.models, Model)},
              {"servers", Array(s.servers, ServerJson)},
              {"pods", Array(s.pods, PodJson)},
              {"decisions", Array(s.recent_decisions, DecisionEntryJson)},
              {"keda", KedaReadsJson(s.keda_reads)}};
  if (s.leadership) doc["leadership"] = LeadershipJson(*s.leadership, s.hand_over_hold_s);
  return doc.dump();
}

std::optional<std::string> ModelStatusJson(const StatusSnapshot& s, const std::string& name) {
  for (const auto& m : s.models) {
    if (m.name == name) return Model(m).dump();
  }
  return std::nullopt;
}

}  // namespace lagscale::coordinator
