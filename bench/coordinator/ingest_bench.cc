// Coordinator throughput on one core:
//  - BM_Ingest: model-reports/s the aggregation absorbs with 1,000 pods x 50 models each
//    (goal >= 200,000/s); the report is re-stamped in place each time (sequence, snapshot and two
//    counters per model), and BM_PrepareOnly measures that re-stamping alone so its cost can be
//    subtracted (ratio printed by the counters).
//  - BM_DecisionCycle: one decision loop pass over 10,000 models (goal <= 10 ms), and
//    BM_PublishStatus: building the /status snapshot for them. Its third argument is the number
//    of models with 15-minute history (0: history off, servers too), so the cost of sampling the
//    history once a second shows as the difference between rows measured in the same run.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "lagscale/coordinator/aggregator.h"
#include "lagscale/base/clock.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {
namespace {

constexpr int kPods = 1000;
constexpr int kModelsPerPod = 50;

std::vector<v1::PodReport> MakePods(int pods, int models_per_pod, int model_stride) {
  std::vector<v1::PodReport> out(static_cast<size_t>(pods));
  for (int p = 0; p < pods; ++p) {
    auto& r = out[static_cast<size_t>(p)];
    r.set_server("server-" + std::to_string(p % 10));
    r.set_pod("pod-" + std::to_string(p));
    r.set_incarnation(static_cast<uint64_t>(p + 1));
    for (int m = 0; m < models_per_pod; ++m) {
      auto* c = r.add_models();
      c->set_model("model-" + std::to_string(p * model_stride + m));
    }
  }
  return out;
}

// Advances one pod's report by `dt` seconds of load.
void Restamp(v1::PodReport& r, int64_t snapshot_ns, double dt) {
  r.set_sequence(r.sequence() + 1);
  r.set_snapshot_monotonic_ns(snapshot_ns);
  for (auto& c : *r.mutable_models()) {
    c.set_arrivals(c.arrivals() + 3);
    c.set_busy_seconds(c.busy_seconds() + 1.5 * dt);
    c.set_inflight(static_cast<int64_t>(c.arrivals() % 4));
  }
}

void BM_Ingest(benchmark::State& state) {
  auto pods = MakePods(kPods, kModelsPerPod, 0);
  for (int p = 0; p < kPods; ++p) {  // 50 models shared by all pods
    for (int m = 0; m < kModelsPerPod; ++m) {
      pods[static_cast<size_t>(p)].mutable_models(m)->set_model("model-" + std::to_string(m));
    }
  }
  Aggregator agg(Aggregator::Options{10, 60, 0.25});
  agg.set_limits(LimitsConfig{1'000'000, 1'000'000, 1'000'000});  // measure, not cap
  int64_t now = 1'000'000'000;
  size_t i = 0;
  for (auto _ : state) {
    if (i == 0) now += 1'000'000'000;  // every pod reports once a second
    auto& r = pods[i];
    Restamp(r, now, 1.0);
    benchmark::DoNotOptimize(agg.Apply(r, now, now / 1'000'000));
    i = (i + 1) % pods.size();
  }
  state.counters["model_reports_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kModelsPerPod, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Ingest)->MinTime(1.0);

void BM_PrepareOnly(benchmark::State& state) {
  auto pods = MakePods(kPods, kModelsPerPod, 0);
  int64_t now = 1'000'000'000;
  size_t i = 0;
  for (auto _ : state) {
    if (i == 0) now += 1'000'000'000;
    Restamp(pods[i], now, 1.0);
    benchmark::DoNotOptimize(pods[i]);
    i = (i + 1) % pods.size();
  }
  state.counters["model_reports_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kModelsPerPod, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PrepareOnly)->MinTime(0.5);

// Reads the demand like a policy would and keeps the replicas: isolates the engine's own cost.
class Fixed final : public ModelPolicy {
 public:
  Decision Decide(const ModelContext& c) override {
    benchmark::DoNotOptimize(c.demand.AverageConcurrency(30));
    benchmark::DoNotOptimize(c.demand.AverageConcurrency(2));
    benchmark::DoNotOptimize(c.demand.Inflight());
    benchmark::DoNotOptimize(c.demand.Fresh());
    return Decision{c.current_replicas, Direction::kHold, {}};
  }
};

// 10,000 models, 100 per pod on 100 pods, three rounds of reports already applied.
struct DecisionFixture {
  base::ManualClock clock;
  std::unique_ptr<Engine> engine;
  std::vector<v1::PodReport> pods;
  DecisionFixture(int models, bool trivial_policy,
                  size_t history_models = EngineOptions{}.history_models) {
    spdlog::set_level(spdlog::level::off);
    EngineOptions o;
    o.history_models = history_models;
    if (history_models == 0) o.history_servers = 0;
    if (trivial_policy) {
      o.model_policy = [](const ModelPolicyConfig&) { return std::make_unique<Fixed>(); };
    }
    auto config = std::make_shared<Config>();
    config->windows_s = {10, 60};
    config->limits = LimitsConfig{1'000'000, 1'000'000, 1'000'000};  // measure, not cap
    o.config = config;
    o.clock = &clock;
    o.status_interval_s = 1e9;  // only when asked
    engine = std::make_unique<Engine>(std::move(o));
    const int per_pod = 100;
    pods = MakePods(models / per_pod, per_pod, per_pod);
    for (int round = 0; round < 3; ++round) {
      clock.AdvanceSeconds(1);
      Feed();
    }
    engine->DecideNow();
  }
  // Every pod reports once (a second's worth of load).
  void Feed() {
    for (auto& r : pods) {
      Restamp(r, clock.MonotonicNs(), 1.0);
      v1::PodReport copy = r;
      engine->Enqueue(std::move(copy));
    }
    engine->DrainReports();
  }
};

// range(1) == 1: the real policies (MakeModelPolicy); 0: Fixed, the engine and windows alone.
// range(2): models with history.
void BM_DecisionCycle(benchmark::State& state) {
  DecisionFixture f(static_cast<int>(state.range(0)), state.range(1) == 0,
                    static_cast<size_t>(state.range(2)));
  // Real time: a cycle every 250 ms, every pod reporting each second (fed outside the timing).
  int cycle = 0;
  for (auto _ : state) {
    f.clock.AdvanceNs(250'000'000);
    if (++cycle % 4 == 0) {
      state.PauseTiming();
      f.Feed();
      state.ResumeTiming();
    }
    f.engine->DecideNow();
  }
  state.counters["models"] = static_cast<double>(f.engine->aggregator().models().size());
}
BENCHMARK(BM_DecisionCycle)
    ->Args({1'000, 1, 0})
    ->Args({1'000, 0, 0})
    ->Args({10'000, 1, 1'000})
    ->Args({10'000, 1, 0})
    ->Args({10'000, 0, 1'000})
    ->Args({10'000, 0, 0})
    ->Args({10'000, 0, 10'000})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

void BM_PublishStatus(benchmark::State& state) {
  DecisionFixture f(static_cast<int>(state.range(0)), false);
  for (auto _ : state) f.engine->PublishStatus();
}
BENCHMARK(BM_PublishStatus)->Arg(10'000)->Unit(benchmark::kMillisecond)->MinTime(0.5);

}  // namespace
}  // namespace lagscale::coordinator
