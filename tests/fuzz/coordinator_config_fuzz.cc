// The coordinator's YAML config parser (coordinator/src/config.cc) fed arbitrary text.
//
// Invariants checked on every input:
//  - a refused config throws ConfigError (the type main() reports as a config error) naming the
//    field; nothing else escapes, nothing crashes;
//  - an accepted config is one the coordinator can run: bounds 0 <= min <= max, every duration,
//    window and rate finite and positive where a zero would divide, every window that reads
//    history within the hour the coordinator keeps, unique names;
//  - the Engine accepts it, and a decision cycle with a report on it runs.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "fuzz_checks.h"
#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/engine.h"

namespace {

namespace co = lagscale::coordinator;

using lagscale::fuzz::Fail;

void Positive(double v, const std::string& what) {
  if (!std::isfinite(v) || v <= 0) Fail(what + " accepted as " + std::to_string(v));
}
void NonNegative(double v, const std::string& what) {
  if (!std::isfinite(v) || v < 0) Fail(what + " accepted as " + std::to_string(v));
}

// A window the aggregator's history must hold (Config::HistorySeconds()).
void InHistory(double v, double max, const std::string& what) {
  Positive(v, what);
  if (v > max) Fail(what + " accepted as " + std::to_string(v) + " > " + std::to_string(max));
}

void CheckPolicy(const co::ModelPolicyConfig& p, const std::string& who) {
  if (p.min_replicas < 0 || p.min_replicas > p.max_replicas) {
    Fail(who + ": min " + std::to_string(p.min_replicas) + " max " +
         std::to_string(p.max_replicas));
  }
  Positive(p.tracking.target_concurrency, who + " targetConcurrency");
  InHistory(p.tracking.stable_window_s, co::kMaxHistorySeconds / 2, who + " stableWindow");
  Positive(p.tracking.panic_window_s, who + " panicWindow");
  Positive(p.max_scale_up_rate, who + " maxScaleUpRate");
  Positive(p.tracking.max_scale_down_rate, who + " maxScaleDownRate");
  Positive(p.lag.lag_threshold, who + " lagThreshold");
  NonNegative(p.tracking.tolerance, who + " tolerance");
  NonNegative(p.tracking.scale_down_delay_s, who + " scaleDownDelay");
  InHistory(p.lag.lag_window_s, co::kMaxHistorySeconds, who + " lagWindow");
  NonNegative(p.lag.idle_window_s, who + " idleWindow");
  NonNegative(p.memory_bytes, who + " memory");
}

void CheckConfig(const co::Config& c) {
  InHistory(c.report_ttl_s, co::kMaxHistorySeconds, "reportTTL");
  Positive(c.decision_interval_s, "decisionInterval");
  for (double w : c.windows_s) InHistory(w, co::kMaxHistorySeconds, "windows");
  CheckPolicy(c.defaults, "defaults");
  std::set<std::string> names;
  for (const auto& m : c.models) {
    if (!names.insert(m.name).second) Fail("duplicate model " + m.name);
    CheckPolicy(m.policy, "model " + m.name);
  }
  names.clear();
  for (const auto& s : c.servers) {
    if (!names.insert(s.name).second) Fail("duplicate server " + s.name);
    if (s.policy.min_replicas < 0 || s.policy.min_replicas > s.policy.max_replicas) {
      Fail("server " + s.name + " bounds");
    }
    NonNegative(s.policy.capacity_bytes, "server capacityMemory");
    NonNegative(s.policy.drain_delay_s, "server drainDelay");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const co::Config> config;
  try {
    config = std::make_shared<const co::Config>(co::ParseConfig(text));
  } catch (const co::ConfigError& e) {
    if (std::string(e.what()).rfind("config", 0) != 0) Fail(std::string("message: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    Fail(std::string("ParseConfig threw something other than ConfigError: ") + e.what());
  }
  CheckConfig(*config);
  lagscale::base::ManualClock clock;
  co::EngineOptions options;
  options.config = config;
  options.clock = &clock;
  co::Engine engine(options);
  lagscale::v1::PodReport report;
  report.set_server(config->servers.empty() ? "s" : config->servers[0].name);
  report.set_pod("p");
  report.set_incarnation(1);
  report.set_sequence(1);
  report.set_snapshot_monotonic_ns(1);
  auto* mc = report.add_models();
  mc->set_model(config->models.empty() ? "m" : config->models[0].name);
  mc->set_arrivals(3);
  mc->set_inflight(3);
  engine.Enqueue(std::move(report));
  engine.DrainReports();
  engine.DecideNow();
  clock.AdvanceSeconds(1);
  engine.DecideNow();
  engine.PublishStatus();
  return 0;
}
