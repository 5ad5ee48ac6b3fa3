#include "runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>

namespace lagscale::sim {

const std::vector<std::string> kPolicyNames = {"lagscale", "hpa",    "kpa",
                                               "keda",     "seldon", "oracle"};

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kWarmupS = 300;  // longer than every policy's longest window

int InitialReplicas(const ModelTrace& trace, const SimParams& params) {
  const int need = static_cast<int>(std::ceil(trace.Load(0) / params.target() - 1e-9));
  return std::clamp(need, params.min_replicas, params.max_replicas);
}

// Poisson arrivals with the trace's piecewise-constant rate (memoryless, so each segment can
// restart the exponential clock at its boundary).
class Arrivals {
 public:
  Arrivals(const ModelTrace& trace, uint64_t seed) : trace_(trace), rng_(seed) {}
  double Next(double t) {
    while (t < trace_.end_s()) {
      const double rate = trace_.At(t).rate_rps;
      const double boundary = trace_.NextChange(t);
      if (rate > 0) {
        const double at = t + exp_(rng_) / rate;
        if (at < boundary) return at;
      }
      t = boundary;
    }
    return kInf;
  }

 private:
  const ModelTrace& trace_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> exp_{1.0};
};

// The trace preceded by a warm-up at its starting load, so that every policy starts from a
// steady state with full windows of history (a coordinator that has been running).
ModelTrace WithWarmup(const ModelTrace& trace) {
  Segment first = trace.At(0);
  first.start_s = 0;
  std::vector<Segment> segments{first};
  for (Segment s : trace.segments()) {
    s.start_s += kWarmupS;
    segments.push_back(s);
  }
  return ModelTrace(std::move(segments), trace.end_s() + kWarmupS);
}

// Scale events while measuring: their count, reversals, and how long after the burst began the
// first scale-up came (the oracle, which knows the future, may start a start-up bound early).
class ScaleEvents {
 public:
  ScaleEvents(const std::string& name, const std::string& model, const SimParams& params,
              std::optional<double> burst, double reaction_from)
      : name_(name), model_(model), params_(params), burst_(burst), reaction_from_(reaction_from) {}

  void Note(double t, int current, const Wake& wake, PolicyResult& r) {
    const int direction = *wake.desired > current ? 1 : -1;
    ++r.scale_events;
    if (last_direction_ != 0 && direction != last_direction_) ++r.reversals;
    last_direction_ = direction;
    if (direction > 0 && !r.reaction_s && t >= reaction_from_) r.reaction_s = t - *burst_;
    if (params_.log_decisions) {
      std::fprintf(stderr, "%s %s %.2f %d -> %d: %s\n", name_.c_str(), model_.c_str(), t, current,
                   *wake.desired, wake.reason.c_str());
    }
  }

 private:
  const std::string& name_;
  const std::string& model_;
  const SimParams& params_;
  std::optional<double> burst_;
  double reaction_from_;
  int last_direction_ = 0;
};

// What the cluster measured after the warm-up.
void Summarize(const Cluster& cluster, double end, PolicyResult& r) {
  const ClusterStats& s = cluster.stats();
  r.ready_s = s.longest_short_s;
  r.replica_seconds = s.replica_seconds;
  r.slo_violation_s = s.slo_violation_s;
  r.timed_out_requests = s.timed_out;
  r.requests = s.arrivals;
  r.duration_s = end - kWarmupS;
}

// One model's trace through one policy: a warm-up at the starting load, then the trace, as one
// event loop over arrivals, the cluster's own events, the policy's wakes and load changes.
PolicyResult RunModel(const std::string& name, const std::string& model, const ModelTrace& original,
                      const SimParams& params) {
  const ModelTrace trace = WithWarmup(original);
  ClusterParams cluster_params = params.cluster;
  cluster_params.startup_seed = ~params.seed ^ std::hash<std::string>{}(model);
  Cluster cluster(cluster_params, InitialReplicas(trace, params));
  cluster.NoteLoad(trace.Load(0));
  auto scaler = MakeAutoscaler(name, params, trace);
  // Every policy sees the same arrivals: the seed depends on the model only.
  Arrivals arrivals(trace, params.seed ^ std::hash<std::string>{}(model));
  const double end = trace.end_s();
  std::optional<double> burst = BurstStart(original, params);
  if (burst) *burst += kWarmupS;
  ScaleEvents events(
      name, model, params, burst,
      burst ? *burst - (name == "oracle" ? cluster.startup_bound_s() + 1 : 0) : kInf);

  PolicyResult r;
  r.name = name;
  bool measuring = false;
  double next_arrival = arrivals.Next(0);
  double next_change = trace.NextChange(0);
  while (true) {
    double t = std::min({next_arrival, cluster.NextEvent(), scaler->NextWake(), next_change});
    if (!measuring) t = std::min(t, kWarmupS);
    if (t >= end) break;
    cluster.AdvanceTo(t);
    if (!measuring && t >= kWarmupS) {
      cluster.ResetStats();
      measuring = true;
    }
    if (t == next_change) {
      cluster.NoteLoad(trace.Load(t));
      next_change = trace.NextChange(t);
    }
    if (t == next_arrival) {
      cluster.Arrive(trace.At(t).service_s, trace.At(t).tokens);
      scaler->AfterArrival(cluster);
      next_arrival = arrivals.Next(t);
    }
    if (t >= scaler->NextWake()) {
      const Wake wake = scaler->OnWake(cluster);
      const int current = cluster.provisioned();
      if (measuring && wake.desired && *wake.desired != current) {
        events.Note(t, current, wake, r);
        cluster.Scale(*wake.desired);
      }
    }
  }
  cluster.AdvanceTo(end);
  cluster.Finish();
  Summarize(cluster, end, r);
  return r;
}

}  // namespace

std::unique_ptr<Autoscaler> MakeAutoscaler(const std::string& name, const SimParams& params,
                                           const ModelTrace& trace) {
  if (name == "lagscale") return MakeLagscale(params);
  if (name == "hpa") return MakeHpa(params);
  if (name == "kpa") return MakeKpa(params);
  if (name == "keda") return MakeKedaHttp(params);
  if (name == "seldon") return MakeSeldon(params);
  return MakeOracle(params, trace);
}

std::optional<double> BurstStart(const ModelTrace& trace, const SimParams& params) {
  const int initial = InitialReplicas(trace, params);
  for (const auto& s : trace.segments()) {
    if (std::ceil(s.rate_rps * s.service_s / params.target() - 1e-9) > initial) return s.start_s;
  }
  return std::nullopt;
}

PolicyResult RunPolicy(const std::string& name, const Trace& trace, const SimParams& params) {
  PolicyResult total;
  total.name = name;
  for (const auto& [model, model_trace] : trace.models) {
    const PolicyResult r = RunModel(name, model, model_trace, params);
    if (r.reaction_s) total.reaction_s = std::max(total.reaction_s.value_or(0), *r.reaction_s);
    total.ready_s = std::max(total.ready_s, r.ready_s);
    total.scale_events += r.scale_events;
    total.reversals += r.reversals;
    total.replica_seconds += r.replica_seconds;
    total.slo_violation_s += r.slo_violation_s;
    total.timed_out_requests += r.timed_out_requests;
    total.requests += r.requests;
    total.duration_s = std::max(total.duration_s, r.duration_s);
  }
  total.reversals_per_5min =
      total.duration_s > 0 ? total.reversals / (total.duration_s / 300.0) : 0;
  return total;
}

}  // namespace lagscale::sim
