#include "output.h"

#include <cmath>
#include <cstdio>

namespace lagscale::sim {
namespace {

const PolicyResult* Oracle(const std::vector<PolicyResult>& results) {
  for (const auto& r : results) {
    if (r.name == "oracle") return &r;
  }
  return nullptr;
}

double Round(double v, double unit) { return std::round(v / unit) * unit; }

}  // namespace

nlohmann::json ResultsJson(const std::string& trace_path, const SimParams& params,
                           const std::vector<PolicyResult>& results) {
  nlohmann::json out;
  out["trace"] = trace_path;
  out["params"] = {{"replica_concurrency", params.cluster.concurrency},
                   {"startup_delay_s", params.cluster.startup_s},
                   {"startup_delay_max_s", params.cluster.startup_max_s},
                   {"slo_ms", params.cluster.slo_s * 1000},
                   {"timeout_s", params.cluster.timeout_s},
                   {"report_interval_s", params.report_interval_s},
                   {"decision_interval_s", params.decision_interval_s},
                   {"target_concurrency", params.target()},
                   {"seed", params.seed}};
  const PolicyResult* oracle = Oracle(results);
  out["policies"] = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json p = {{"name", r.name},
                        {"reaction_s", nullptr},
                        {"ready_s", Round(r.ready_s, 0.001)},
                        {"reversals_per_5min", Round(r.reversals_per_5min, 0.001)},
                        {"reversals", r.reversals},
                        {"scale_events", r.scale_events},
                        {"replica_seconds", Round(r.replica_seconds, 0.1)},
                        {"replica_seconds_vs_oracle", nullptr},
                        {"slo_violation_s", Round(r.slo_violation_s, 0.001)},
                        {"timed_out_requests", r.timed_out_requests},
                        {"requests", r.requests},
                        {"duration_s", r.duration_s}};
    if (r.reaction_s) p["reaction_s"] = Round(*r.reaction_s, 0.001);
    if (oracle != nullptr && oracle->replica_seconds > 0) {
      p["replica_seconds_vs_oracle"] = Round(r.replica_seconds / oracle->replica_seconds, 0.001);
    }
    out["policies"].push_back(std::move(p));
  }
  return out;
}

nlohmann::json SweepJson(const std::string& trace_path, const Trace& trace, const SimParams& params,
                         const std::vector<std::string>& names,
                         const std::vector<double>& utilizations) {
  std::vector<PolicyResult> results;
  for (const auto& n : names) {
    if (n != "lagscale") results.push_back(RunPolicy(n, trace, params));
  }
  nlohmann::json out = ResultsJson(trace_path, params, results);
  out["sweep"] = nlohmann::json::array();
  for (double u : utilizations) {
    SimParams p = params;
    p.target_utilization = u;
    p.lagscale.tracking.target_concurrency = p.target();
    const PolicyResult r = RunPolicy("lagscale", trace, p);
    out["sweep"].push_back({{"target_utilization", u},
                            {"replica_seconds", Round(r.replica_seconds, 0.1)},
                            {"slo_violation_s", Round(r.slo_violation_s, 0.001)}});
  }
  return out;
}

std::string ResultsTable(const std::string& trace_path, const SimParams& params,
                         const std::vector<PolicyResult>& results) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line),
                "trace %s: concurrency %d/replica, target %.2f, start-up %.0fs, SLO %.0fms, "
                "report %.2fs\n",
                trace_path.c_str(), params.cluster.concurrency, params.target(),
                params.cluster.startup_s, params.cluster.slo_s * 1000, params.report_interval_s);
  out += line;
  std::snprintf(line, sizeof(line), "%-9s %10s %8s %9s %7s %12s %8s %9s %9s\n", "policy",
                "reaction_s", "ready_s", "rev/5min", "events", "replica_s", "vs_orcl", "slo_s",
                "timeouts");
  out += line;
  const PolicyResult* oracle = Oracle(results);
  for (const auto& r : results) {
    char reaction[32] = "-";
    if (r.reaction_s) std::snprintf(reaction, sizeof(reaction), "%.2f", *r.reaction_s);
    char ratio[32] = "-";
    if (oracle != nullptr && oracle->replica_seconds > 0) {
      std::snprintf(ratio, sizeof(ratio), "%.3f", r.replica_seconds / oracle->replica_seconds);
    }
    std::snprintf(line, sizeof(line), "%-9s %10s %8.1f %9.2f %7d %12.0f %8s %9.1f %9llu\n",
                  r.name.c_str(), reaction, r.ready_s, r.reversals_per_5min, r.scale_events,
                  r.replica_seconds, ratio, r.slo_violation_s,
                  static_cast<unsigned long long>(r.timed_out_requests));
    out += line;
  }
  return out;
}

}  // namespace lagscale::sim
