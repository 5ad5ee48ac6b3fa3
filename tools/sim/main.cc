// lagscale-sim: replays a demand trace through lagscale's scaling policy and the published
// baselines (Kubernetes HPA, Knative KPA, KEDA's HTTP add-on, Seldon Core 2, and an oracle) on one
// queueing model and a virtual clock, and prints how each one did.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "lagscale/base/flags.h"
#include "lagscale/version.h"
#include "output.h"
#include "runner.h"

namespace {

using lagscale::sim::SimParams;

// A duration flag: a number of seconds or a number with a unit (250ms, 10s, 2m), as
// base::ParseDurationFlag reads it for every binary; at least 1ms where `positive`.
CLI::Option* Duration(CLI::App& app, const std::string& flag, double& value,
                      const std::string& help, bool positive = false) {
  using namespace std::chrono_literals;
  namespace base = lagscale::base;
  const base::DurationSyntax syntax{base::BareNumber::kSeconds, !positive, 1e6s};
  std::ostringstream default_value;
  default_value << value;
  return app
      .add_option_function<std::string>(
          flag,
          [&value, flag, syntax](const std::string& text) {
            const auto d = base::ParseDurationFlag(text, flag, syntax);
            if (!d) throw CLI::ValidationError(d.error());
            value = d->count();
          },
          help + " (e.g. 250ms, 10s, 2m)")
      ->type_name("DURATION")
      ->default_str(default_value.str());
}

// Everything the command line sets.
struct Flags {
  SimParams params;
  std::string trace_path;
  std::string policies = "lagscale,hpa,kpa,keda,seldon,oracle";
  std::string kind = "target-tracking";
  bool json = false;
  std::vector<double> sweep;
  double slo_ms = 0;
};

// The run: trace, output, the simulated cluster and the bounds every policy shares.
void AddRunFlags(CLI::App& app, Flags& f, std::vector<CLI::Option*>& options) {
  SimParams& p = f.params;
  options.push_back(
      app.add_option("--trace", f.trace_path,
                     "CSV t_seconds,model,arrival_rate_rps,service_time_ms[,output_tokens]")
          ->required()
          ->check(CLI::ExistingFile));
  options.push_back(app.add_flag("--json", f.json, "print one JSON object instead of a table"));
  options.push_back(app.add_option("--sweep", f.sweep,
                                   "lagscale target utilizations to run (e.g. 0.5,0.6,0.7): JSON "
                                   "of its SLO-violation and replica-seconds at each, the other "
                                   "policies once at --target-utilization")
                        ->delimiter(',')
                        ->check(CLI::Range(0.01, 1.0)));
  options.push_back(app.add_option("--policies", f.policies, "comma-separated policies to run")
                        ->capture_default_str());
  options.push_back(app.add_option("--replica-concurrency", p.cluster.concurrency,
                                   "requests one replica serves at once")
                        ->check(CLI::PositiveNumber)
                        ->capture_default_str());
  options.push_back(Duration(app, "--startup-delay", p.cluster.startup_s,
                             "time from a scale-up decision to a ready replica"));
  options.push_back(Duration(app, "--startup-delay-max", p.cluster.startup_max_s,
                             "above --startup-delay: each start-up is uniform in between, seeded"));
  options.push_back(app.add_option("--slo-ms", f.slo_ms, "queueing delay SLO in milliseconds")
                        ->check(CLI::NonNegativeNumber)
                        ->capture_default_str());
  options.push_back(
      Duration(app, "--timeout", p.cluster.timeout_s, "a request queued this long gives up", true));
  options.push_back(Duration(app, "--report-interval", p.report_interval_s,
                             "sidecar report period seen by lagscale", true));
  options.push_back(Duration(app, "--decision-interval", p.decision_interval_s,
                             "coordinator decision loop period", true));
  options.push_back(app.add_option("--early-report-threshold", p.early_report_threshold,
                                   "in-flight jump that sends a report early (0: never)")
                        ->check(CLI::NonNegativeNumber)
                        ->capture_default_str());
  options.push_back(app.add_option("--target-utilization", p.target_utilization,
                                   "target concurrency per replica as a share of its concurrency")
                        ->check(CLI::Range(0.01, 1.0))
                        ->capture_default_str());
  options.push_back(app.add_option("--min-replicas", p.min_replicas, "lower bound for every policy")
                        ->capture_default_str());
  options.push_back(app.add_option("--max-replicas", p.max_replicas, "upper bound for every policy")
                        ->capture_default_str());
  options.push_back(
      app.add_flag("--log-decisions", p.log_decisions, "print every scale event to stderr: policy, model, time, from -> to, reason"));
  options.push_back(app.add_option("--seed", p.seed, "arrival randomness")->capture_default_str());
}

// lagscale's own policy settings.
void AddLagscaleFlags(CLI::App& app, Flags& f, std::vector<CLI::Option*>& options) {
  lagscale::coordinator::ModelPolicyConfig& lc = f.params.lagscale;
  options.push_back(app.add_option("--policy", f.kind, "lagscale's policy")
                        ->check(CLI::IsMember({"target-tracking", "lag-threshold"}))
                        ->capture_default_str());
  options.push_back(app.add_option("--tolerance", lc.tracking.tolerance,
                                   "lagscale: no change while within this share of the target")
                        ->check(CLI::Range(0.0, 1.0))
                        ->capture_default_str());
  options.push_back(Duration(app, "--stable-window", lc.tracking.stable_window_s,
                             "lagscale stable window", true));
  options.push_back(
      Duration(app, "--panic-window", lc.tracking.panic_window_s, "lagscale panic window", true));
  options.push_back(app.add_option("--panic-threshold", lc.tracking.panic_threshold,
                                   "lagscale: panic at this multiple of current capacity")
                        ->check(CLI::Range(1.0, 1000.0))
                        ->capture_default_str());
  options.push_back(Duration(app, "--scale-down-delay", lc.tracking.scale_down_delay_s,
                             "lagscale scale-down stabilization"));
  options.push_back(Duration(app, "--backlog-drain", lc.tracking.backlog_drain_s,
                             "lagscale: drain a burst's queue within this time", true));
  options.push_back(app.add_option("--target-tokens-per-second",
                                   lc.tracking.target_tokens_per_second,
                                   "lagscale: size on output tokens/s per replica (0: off; needs "
                                   "a trace with an output_tokens column)")
                        ->check(CLI::NonNegativeNumber)
                        ->capture_default_str());
  options.push_back(app.add_option("--lag-threshold", lc.lag.lag_threshold,
                                   "lagscale lag-threshold: in-flight per replica that scales up")
                        ->check(CLI::PositiveNumber)
                        ->capture_default_str());
}

// Checks the bounds and derives what the flags imply: the SLO in seconds and lagscale's kind,
// bounds, target and known start-up delay. False (after saying why) when the bounds are invalid.
bool Complete(Flags& f) {
  SimParams& p = f.params;
  if (p.min_replicas < 0 || p.max_replicas < std::max(p.min_replicas, 1)) {
    std::fprintf(stderr, "lagscale-sim: --max-replicas %d must be >= 1 and >= --min-replicas %d\n",
                 p.max_replicas, p.min_replicas);
    return false;
  }
  p.cluster.slo_s = f.slo_ms / 1000;
  auto& lc = p.lagscale;
  lc.kind = f.kind == "lag-threshold" ? lagscale::coordinator::PolicyKind::kLagThreshold
                                      : lagscale::coordinator::PolicyKind::kTargetTracking;
  lc.min_replicas = p.min_replicas;
  lc.max_replicas = p.max_replicas;
  lc.tracking.target_concurrency = p.target();
  // What an operator knows about their pods: the shortest start-up (the sim draws each one).
  lc.tracking.startup_delay_s = p.cluster.startup_s;
  return true;
}

// The policies --policies names; nullopt (after saying which) when one is unknown.
std::optional<std::vector<std::string>> PolicyNames(const std::string& policies) {
  const auto& known = lagscale::sim::kPolicyNames;
  std::vector<std::string> names;
  std::stringstream list(policies);
  for (std::string n; std::getline(list, n, ',');) {
    if (std::find(known.begin(), known.end(), n) == known.end()) {
      std::fprintf(stderr, "lagscale-sim: --policies: unknown policy '%s'\n", n.c_str());
      return std::nullopt;
    }
    names.push_back(n);
  }
  return names;
}

// Runs the policies over the trace and prints the results (or the sweep) to stdout.
void Simulate(const Flags& f, const std::vector<std::string>& names) {
  const lagscale::sim::Trace trace = lagscale::sim::LoadTrace(f.trace_path);
  if (!f.sweep.empty()) {
    std::cout << lagscale::sim::SweepJson(f.trace_path, trace, f.params, names, f.sweep).dump()
              << "\n";
    return;
  }
  std::vector<lagscale::sim::PolicyResult> results;
  for (const auto& n : names) results.push_back(lagscale::sim::RunPolicy(n, trace, f.params));
  if (f.json) {
    std::cout << lagscale::sim::ResultsJson(f.trace_path, f.params, results).dump() << "\n";
  } else {
    std::cout << lagscale::sim::ResultsTable(f.trace_path, f.params, results);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lagscale-sim: compares scaling policies on a demand trace"};
  app.set_version_flag("--version", std::string("lagscale-sim ") + lagscale::kVersion + " (" +
                                        lagscale::kRevision + ")");
  Flags flags;
  flags.slo_ms = flags.params.cluster.slo_s * 1000;
  std::vector<CLI::Option*> options;
  AddRunFlags(app, flags, options);
  AddLagscaleFlags(app, flags, options);
  for (CLI::Option* o : options) o->envname(lagscale::base::FlagEnvName(o->get_name()));
  CLI11_PARSE(app, argc, argv);

  if (!Complete(flags)) return 2;
  const auto names = PolicyNames(flags.policies);
  if (!names) return 2;
  try {
    Simulate(flags, *names);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lagscale-sim: %s\n", e.what());
    return 1;
  }
  return 0;
}
