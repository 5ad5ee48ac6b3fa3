// The coordinator's report application fed random report sequences: a few pods of two servers
// reporting a few models, with duplicates, reordering, restarts, counters going backwards,
// silence past the TTL and absurd values (negative or huge in-flight, NaN/infinite busy time,
// timestamps at the ends of int64), through the Engine's manual loop on a manual clock.
//
// Invariants checked after every decision cycle, on what /status shows:
//  - no model and no server shows negative or non-finite in-flight, rates or concurrency
//    (cumulative counters never read as going backwards);
//  - LLM models show finite token rates and first-byte p50 <= p99, present exactly when there
//    were observations in the window;
//  - no desired replica count outside [0, maxReplicas] of its model or server, whatever the input;
//  - the report counters only grow, and received = applied + ignored;
//  - the status renders as valid JSON.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_checks.h"
#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/engine.h"
#include "lagscale/coordinator/status.h"

namespace {

namespace co = lagscale::coordinator;

using lagscale::fuzz::Fail;

constexpr const char* kConfig = R"(
reportTTL: 10s
decisionInterval: 250ms
windows: [10s, 60s]
defaults: {minReplicas: 1, maxReplicas: 4, targetConcurrency: 1}
servers:
  - {name: s0, placement: all, minReplicas: 1, maxReplicas: 6}
  - {name: s1, placement: scheduled, minReplicas: 1, maxReplicas: 3, capacityMemory: 4Gi}
models:
  - {name: m0, server: s1, policy: lag-threshold, minReplicas: 1, maxReplicas: 3, lagThreshold: 2,
     memory: 1Gi}
  - {name: m1, minReplicas: 0, maxReplicas: 5, targetConcurrency: 2}
)";

int MaxOfModel(const std::string& name) { return name == "m0" ? 3 : name == "m1" ? 5 : 4; }
int MaxOfServer(const std::string& name) { return name == "s1" ? 3 : name == "s0" ? 6 : 10; }

struct PodMemory {
  uint64_t sequence = 0;
  int64_t snapshot_ns = 0;
  uint64_t arrivals[3] = {}, completions[3] = {};
  double busy[3] = {};
  uint64_t prompt[3] = {}, completion[3] = {};
  uint64_t first_bytes[3][4] = {};  // cumulative, per bucket of kFirstByteBounds and +Inf
};

// A value that is usually plausible and sometimes anything at all.
int64_t Wild(FuzzedDataProvider& in, int64_t plausible) {
  return in.ConsumeBool() ? plausible : in.ConsumeIntegral<int64_t>();
}

constexpr double kFirstByteBounds[] = {0.1, 1, 10};

// Tokens and a time-to-first-byte histogram, as a sidecar reports LLM answers: usually plausible
// cumulative counts, sometimes a wild counter, wrong bucket counts or bad bounds.
void AddLlm(FuzzedDataProvider& in, PodMemory& mem, int m, lagscale::v1::ModelCounters& mc) {
  mem.prompt[m] += in.ConsumeIntegralInRange<uint64_t>(0, 5000);
  mem.completion[m] += in.ConsumeIntegralInRange<uint64_t>(0, 5000);
  mc.set_prompt_tokens(static_cast<uint64_t>(Wild(in, static_cast<int64_t>(mem.prompt[m]))));
  mc.set_completion_tokens(
      static_cast<uint64_t>(Wild(in, static_cast<int64_t>(mem.completion[m]))));
  auto& h = *mc.mutable_time_to_first_byte();
  const bool plausible = in.ConsumeBool();
  const int bounds = plausible ? 3 : in.ConsumeIntegralInRange(0, 70);
  for (int i = 0; i < bounds; ++i) {
    h.add_upper_bounds_seconds(plausible ? kFirstByteBounds[i] : in.ConsumeFloatingPoint<double>());
  }
  const int counts = plausible ? 4 : in.ConsumeIntegralInRange(0, 70);
  for (int i = 0; i < counts; ++i) {
    if (plausible) mem.first_bytes[m][i] += in.ConsumeIntegralInRange<uint64_t>(0, 20);
    h.add_counts(plausible ? mem.first_bytes[m][i] : in.ConsumeIntegral<uint64_t>());
  }
  h.set_sum_seconds(in.ConsumeFloatingPoint<double>());
}

lagscale::v1::PodReport MakeReport(FuzzedDataProvider& in, PodMemory* pods, int64_t now_ns) {
  lagscale::v1::PodReport r;
  const int p = in.ConsumeIntegralInRange(0, 2);
  PodMemory& mem = pods[p];
  r.set_server(in.ConsumeBool() ? "s0" : "s1");
  r.set_pod("p" + std::to_string(p));
  r.set_incarnation(in.ConsumeIntegralInRange<uint64_t>(1, 2));
  mem.sequence = static_cast<uint64_t>(Wild(in, static_cast<int64_t>(mem.sequence + 1)));
  r.set_sequence(mem.sequence);
  // Wrapping add: after a wild value the next plausible one may wrap, like a broken sidecar's.
  const auto step = in.ConsumeIntegralInRange<uint64_t>(0, 3e9);
  mem.snapshot_ns = Wild(in, static_cast<int64_t>(static_cast<uint64_t>(mem.snapshot_ns) + step));
  r.set_snapshot_monotonic_ns(mem.snapshot_ns);
  r.set_report_unix_ms(Wild(in, 1'700'000'000'000 + now_ns / 1'000'000));
  r.set_early(in.ConsumeBool());
  const int models = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < models; ++i) {
    const int m = in.ConsumeIntegralInRange(0, 2);
    auto* mc = r.add_models();
    mc->set_model("m" + std::to_string(m));
    mem.arrivals[m] += in.ConsumeIntegralInRange<uint64_t>(0, 50);
    mem.completions[m] += in.ConsumeIntegralInRange<uint64_t>(0, 50);
    mem.completions[m] = std::min(mem.completions[m], mem.arrivals[m]);
    mem.busy[m] += in.ConsumeFloatingPointInRange<double>(0, 10);
    mc->set_arrivals(static_cast<uint64_t>(Wild(in, static_cast<int64_t>(mem.arrivals[m]))));
    auto* o = mc->mutable_outcomes();
    o->set_success(static_cast<uint64_t>(Wild(in, static_cast<int64_t>(mem.completions[m]))));
    o->set_timeout(in.ConsumeBool() ? 0 : in.ConsumeIntegral<uint64_t>());
    mc->set_busy_seconds(in.ConsumeBool() ? mem.busy[m] : in.ConsumeFloatingPoint<double>());
    mc->set_inflight(Wild(in, static_cast<int64_t>(mem.arrivals[m] - mem.completions[m])));
    mc->set_last_request_unix_ms(Wild(in, 1'700'000'000'000 + now_ns / 1'000'000));
    if (in.ConsumeBool()) AddLlm(in, mem, m, *mc);
  }
  return r;
}

void CheckFinite(double v, const std::string& what) {
  if (!std::isfinite(v) || v < 0) Fail(what + " = " + std::to_string(v));
}

void CheckLlm(const co::LlmStatus& llm, const std::string& model) {
  CheckFinite(llm.prompt_tokens_per_s, "model " + model + " prompt tokens/s");
  CheckFinite(llm.completion_tokens_per_s, "model " + model + " completion tokens/s");
  if (llm.first_byte_p50_s) CheckFinite(*llm.first_byte_p50_s, "model " + model + " p50");
  if (llm.first_byte_p99_s) CheckFinite(*llm.first_byte_p99_s, "model " + model + " p99");
  if (llm.first_byte_p50_s.has_value() != llm.first_byte_p99_s.has_value() ||
      (llm.first_byte_p50_s && *llm.first_byte_p50_s > *llm.first_byte_p99_s + 1e-9)) {
    Fail("model " + model + " first-byte p50 above p99 or only one of them");
  }
  if ((llm.first_byte_count == 0) == llm.first_byte_p50_s.has_value()) {
    Fail("model " + model + " first-byte quantile without observations or the reverse");
  }
}

void CheckStatus(const co::StatusSnapshot& s, const co::StatusSnapshot* before) {
  for (const auto& m : s.models) {
    CheckFinite(m.inflight, "model " + m.name + " inflight");
    CheckFinite(m.arrival_rate, "model " + m.name + " arrival_rate");
    CheckFinite(m.completion_rate, "model " + m.name + " completion_rate");
    for (const auto& [w, c] : m.concurrency) CheckFinite(c, "model " + m.name + " concurrency");
    if (m.llm) CheckLlm(*m.llm, m.name);
    if (m.desired < 0 || m.desired > MaxOfModel(m.name) || m.max > MaxOfModel(m.name)) {
      Fail("model " + m.name + " desired " + std::to_string(m.desired) + " outside [0, " +
           std::to_string(MaxOfModel(m.name)) + "]");
    }
  }
  for (const auto& sv : s.servers) {
    CheckFinite(sv.inflight, "server " + sv.name + " inflight");
    if (sv.desired < 0 || sv.desired > MaxOfServer(sv.name)) {
      Fail("server " + sv.name + " desired " + std::to_string(sv.desired));
    }
  }
  for (const auto& p : s.pods) {
    if (p.inflight < 0) Fail("pod " + p.pod + " inflight " + std::to_string(p.inflight));
  }
  if (s.reports_received != s.reports_applied + s.reports_ignored) Fail("received != sum");
  if (before && (s.reports_received < before->reports_received ||
                 s.reports_applied < before->reports_applied || s.restarts < before->restarts)) {
    Fail("a report counter went backwards");
  }
  const auto json = nlohmann::json::parse(co::StatusJson(s), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) Fail("status is not valid JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto config = [] {
    spdlog::set_level(spdlog::level::off);  // a decision is logged at info level
    return std::make_shared<const co::Config>(co::ParseConfig(kConfig));
  }();
  FuzzedDataProvider in(data, size);
  lagscale::base::ManualClock clock;
  co::EngineOptions options;
  options.config = config;
  options.clock = &clock;
  co::Engine engine(options);
  PodMemory pods[3];
  std::shared_ptr<const co::StatusSnapshot> before;
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    if (in.ConsumeIntegralInRange(0, 3) < 3) {
      engine.Enqueue(MakeReport(in, pods, clock.MonotonicNs()));
      continue;
    }
    clock.AdvanceNs(in.ConsumeIntegralInRange<int64_t>(0, 20'000'000'000));
    engine.DrainReports();
    engine.DecideNow();
    engine.PublishStatus();
    const auto now = engine.status();
    if (now) CheckStatus(*now, before.get());
    before = now;
  }
  return 0;
}
