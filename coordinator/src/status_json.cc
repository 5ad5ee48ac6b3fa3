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
          {"pods", m.pods},
          {"last_decision", DecisionJson(m.last_decision)},
          {"actuation", Actuation(m.actuation)},
          {"actuated_by", m.actuated_by},
          {"keda", KedaReadJson(m.keda_read)}};
}

// What the report limits refused so far, and the limits in force (docs/coordinator.md).
json WithLimits(json doc, const StatusSnapshot& s) {
  json& reports = doc["reports"];
  reports["refused_models"] = s.refusals.models;
  reports["refused_pods"] = s.refusals.pods;
  reports["rejected_values"] = s.refusals.values;
  reports["last_refusal"] = s.refusals.last.empty() ? json(nullptr) : json(s.refusals.last);
  doc["limits"] = {{"max_models", s.limits.max_models},
                   {"max_pods", s.limits.max_pods},
                   {"max_models_per_pod", s.limits.max_models_per_pod}};
  return doc;
}

}  // namespace

std::string StatusJson(const StatusSnapshot& s) {
  json models = json::array();
  for (const auto& m : s.models) models.push_back(Model(m));
  json servers = json::array();
  for (const auto& v : s.servers) {
    servers.push_back(json{{"name", v.name},
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
                           {"keda", KedaReadJson(v.keda_read)}});
  }
  json pods = json::array();
  for (const auto& p : s.pods) {
    pods.push_back(json{{"server", p.server},
                        {"pod", p.pod},
                        {"incarnation", std::to_string(p.incarnation)},
                        {"sequence", p.sequence},
                        {"last_report_age_seconds", p.report_age_s},
                        {"inflight", p.inflight},
                        {"models", p.models}});
  }
  json decisions = json::array();
  for (const auto& d : s.recent_decisions) {
    decisions.push_back(json{{"kind", d.kind},
                             {"name", d.name},
                             {"time_unix_ms", d.time_unix_ms},
                             {"from", d.from},
                             {"to", d.to},
                             {"reason", d.reason}});
  }
  json last_error = nullptr;
  if (s.actuator.last_error) {
    last_error = Actuation(s.actuator.last_error->second);
    last_error["target"] = s.actuator.last_error->first;
  }
  json windows = json::array();
  for (double w : s.windows_s) windows.push_back(WindowKey(w));
  json doc = {{"time_unix_ms", s.time_unix_ms},
              {"windows", windows},
              {"actuator",
               {{"name", s.actuator.name},
                {"healthy", s.actuator.healthy},
                {"succeeded", s.actuator.succeeded},
                {"retried", s.actuator.retried},
                {"failed", s.actuator.failed},
                {"last_error", last_error}}},
              {"reports",
               {{"received", s.reports_received},
                {"applied", s.reports_applied},
                {"ignored", s.reports_ignored},
                {"restarts", s.restarts},
                {"expired_pods", s.expired}}},
              {"models", models},
              {"servers", servers},
              {"pods", pods},
              {"decisions", decisions},
              {"keda", KedaReadsJson(s.keda_reads)}};
  if (s.leadership) doc["leadership"] = LeadershipJson(*s.leadership, s.hand_over_hold_s);
  return WithLimits(doc, s).dump();
}

std::optional<std::string> ModelStatusJson(const StatusSnapshot& s, const std::string& name) {
  for (const auto& m : s.models) {
    if (m.name == name) return Model(m).dump();
  }
  return std::nullopt;
}

}  // namespace lagscale::coordinator
