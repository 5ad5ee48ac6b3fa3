// One decision cycle of the single-writer loop, step by step: reloads, pod expiry, results,
// leadership, reads, roster, then models, servers and publishing. See engine.h.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "engine_state.h"
#include "lagscale/base/thread_name.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {
namespace {

// The demand of a model nobody has reported yet: nothing known, so policies hold.
class NoDemand final : public DemandView {
 public:
  double AverageConcurrency(double) const override { return 0; }
  double Inflight() const override { return 0; }
  double ArrivalRate(double) const override { return 0; }
  double IdleSeconds() const override { return std::numeric_limits<double>::infinity(); }
  double TokenRate(double) const override { return 0; }
  bool Fresh() const override { return false; }
};

}  // namespace

void Engine::DecideNow() {
  const auto started = std::chrono::steady_clock::now();
  ApplyReloads();
  const int64_t now_ns = NowNs();
  ExpirePods(now_ns);
  AbsorbResults();
  FollowLeadership(now_ns);
  RequestReadsEvery(now_ns);
  FollowRoster();
  const double now_s = static_cast<double>(now_ns) / 1e9;
  const int64_t history_second = NowUnixMs() / 1000;
  const bool sample_history = history_second != last_history_s_;
  DecideModels(now_s, sample_history);
  DecideServers(now_s);
  if (sample_history) {
    last_history_s_ = history_second;
    WriteHistory(history_second);
  }
  PublishAfterDecision(
      now_ns, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void Engine::ApplyReloads() {
  std::shared_ptr<const Config> next;
  while (reloads_.try_dequeue(next)) ApplyConfig(std::move(next));
}

void Engine::ExpirePods(int64_t now_ns) {
  const int expired = aggregator_.Advance(now_ns, NowUnixMs());
  expired_ += static_cast<uint64_t>(expired);
  if (options_.metrics) {
    if (expired) options_.metrics->OnPodsExpired(expired);
    options_.metrics->SetPods(aggregator_.pod_count());
  }
}

// Seldon's bounds (and replicas) can change behind our back: read every target now and then.
void Engine::RequestReadsEvery(int64_t now_ns) {
  if (!options_.reader || now_ns - last_seldon_read_ns_ <= options_.seldon_read_interval_s * 1e9)
    return;
  last_seldon_read_ns_ = now_ns;
  for (auto& [name, e] : models_) RequestRead(*e);
  for (auto& [name, e] : servers_) RequestRead(*e);
}

void Engine::FollowRoster() {
  // New names are rare: walk the rosters only when the config or the set of models changed.
  if (roster_config_ != config_.get() || roster_models_ != aggregator_.roster_generation()) {
    roster_config_ = config_.get();
    roster_models_ = aggregator_.roster_generation();
    RebuildRoster();
  }
}

void Engine::DecideModels(double now_s, bool sample_history) {
  // Every server's list of models is rebuilt by the models' decisions below.
  for (auto& [name, s] : servers_) {
    s->models.clear();
    s->fresh = true;
  }
  // A model's decision reads its entry, its policy, its demand and a few buckets of its ring:
  // objects far apart in memory, each found through the one before. With thousands of models
  // none of them is still in the cache from the last cycle, so each read waited for memory in
  // turn. The CPU is asked for them a few models ahead, one level of pointers per step, and the
  // waits overlap.
  const size_t n = model_order_.size();
  for (size_t i = 0; i < n; ++i) {
    if (i + 12 < n) PrefetchEntry(*model_order_[i + 12]);
    if (i + 6 < n) PrefetchEntryObjects(*model_order_[i + 6]);
    if (i + 3 < n && model_order_[i + 3]->demand) model_order_[i + 3]->demand->Prefetch();
    DecideModel(*model_order_[i], now_s, sample_history);
  }
}

void Engine::PrefetchEntry(const ModelEntry& e) {
  __builtin_prefetch(&e.key);
  __builtin_prefetch(&e.desired);
  __builtin_prefetch(&e.last);
  __builtin_prefetch(&e.actuation);
  __builtin_prefetch(&e.config.min_replicas);
  __builtin_prefetch(&e.config.tracking);
  __builtin_prefetch(&e.config.lag);
  __builtin_prefetch(&e.policy);
  __builtin_prefetch(&e.server);
}

void Engine::PrefetchEntryObjects(const ModelEntry& e) {
  constexpr size_t kLine = 64;
  // The first lines of the policy, whatever its type and size (a prefetch of an address past an
  // object is harmless, and made as an integer it is no pointer arithmetic either).
  if (e.policy) {
    const auto policy = reinterpret_cast<uintptr_t>(e.policy.get());
    for (size_t at = 0; at < 4 * kLine; at += kLine) {
      __builtin_prefetch(reinterpret_cast<const void*>(policy + at));
    }
  }
  if (const auto* demand = reinterpret_cast<const char*>(e.demand)) {
    for (size_t at = 0; at < sizeof(ModelDemand); at += kLine) __builtin_prefetch(demand + at);
  }
}

void Engine::DecideModel(ModelEntry& e, double now_s, bool sample_history) {
  static const NoDemand kNoDemand;
  const ModelPolicyConfig& pc = e.config;
  if (e.demand) {
    e.demand->set_hold_seconds(
        std::max({pc.tracking.stable_window_s, pc.tracking.panic_window_s, pc.lag.lag_window_s}));
  }
  const DemandView& view = e.demand ? static_cast<const DemandView&>(*e.demand) : kNoDemand;
  const int hosting = e.demand ? static_cast<int>(e.demand->hosting_pods()) : 0;
  const int current = e.Current(hosting, pc.min_replicas, pc.max_replicas);
  e.fresh = view.Fresh();
  e.server = !e.config_server.empty() ? e.config_server : (e.demand ? e.demand->server() : "");
  Conclude(e, e.server, current, e.policy->Decide(ModelContext{now_s, current, view}));
  if (options_.metrics) options_.metrics->SetModelReplicas(e.name(), current, e.desired);
  if (!e.server.empty()) {
    // The server's entry is looked up by name only when the model's server changes.
    if (!e.server_entry || e.server_entry->name() != e.server) e.server_entry = &Server(e.server);
    ServerEntry& s = *e.server_entry;
    s.models.push_back(ServerModelDemand{e.name(), e.desired, pc.memory_bytes});
    s.fresh = s.fresh && e.fresh;
  }
  if (sample_history) SampleModel(e, current);
}

void Engine::DecideServers(double now_s) {
  const auto pods_per_server = aggregator_.PodsPerServer();
  for (auto& [name, sp] : servers_) {
    ServerEntry& s = *sp;
    const auto pods = pods_per_server.find(name);
    const int hosting = pods == pods_per_server.end() ? 0 : pods->second;
    const int current = s.Current(hosting, s.config.min_replicas, s.config.max_replicas);
    Conclude(s, name, current, s.sizer->Decide(ServerContext{now_s, current, s.models, s.fresh}));
    if (options_.metrics) options_.metrics->SetServerReplicas(name, current, s.desired);
  }
}

void Engine::Conclude(TargetEntry& e, const std::string& server, int current, Decision d) {
  HoldForHandOver(d, current, ReplicasUnread(e.target, e.observed));
  const int previous = e.desired >= 0 ? e.desired : current;
  e.desired = d.desired;
  // A first decision that differs from what runs is submitted even when it did not change.
  if (d.desired != previous || (d.desired != current && e.submitted < 0)) {
    Record(e, server, current, d);
    return;
  }
  // Level-triggered, as Kubernetes controllers are: a decision whose write failed for good (a
  // 403 or 404, or retries given up in an outage) is written again every resubmit_failed_s while
  // it stands, so the target reaches it once the cause is gone. It is not a new decision.
  const int64_t now_ms = NowUnixMs();
  const int64_t since_ms = std::max(e.actuation.time_unix_ms, e.resubmitted_unix_ms);
  if (e.actuation.status == "failed" && now_ms - since_ms >= options_.resubmit_failed_s * 1000) {
    e.resubmitted_unix_ms = now_ms;
    e.submitted = -1;
    Submit(e, server, current, d, now_ms);
  }
}

void Engine::PublishAfterDecision(int64_t now_ns, double took_s) {
  if (options_.metrics) options_.metrics->SetDecisionCycleSeconds(took_s);
  PublishScalerView(true);
  if (now_ns - last_status_ns_ >= options_.status_interval_s * 1e9) {
    last_status_ns_ = now_ns;
    PublishStatus();
  }
}

void Engine::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  DecideNow();
  ready_.store(true, std::memory_order_release);
  thread_ = std::thread([this] {
    base::NameThisThread("decide");
    Run();
  });
}

void Engine::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  ready_.store(false);
}

void Engine::Run() {
  std::vector<Received> batch(256);
  int64_t next = NowNs() + static_cast<int64_t>(config_->decision_interval_s * 1e9);
  while (!stop_.load(std::memory_order_relaxed)) {
    const int64_t wait_ns = std::max<int64_t>(0, std::min<int64_t>(next - NowNs(), 50'000'000));
    const size_t n = reports_.wait_dequeue_bulk_timed(batch.begin(), batch.size(), wait_ns / 1000);
    for (size_t i = 0; i < n; ++i) ApplyReceived(batch[i]);
    // Reports never starve the decisions: a flood is drained until the next decision is due.
    const size_t applied = n + DrainReports(next);
    // New reports reach KEDA's view at once (activity pushes); idle passes keep idle windows.
    PublishScalerView(applied > 0);
    const int64_t now = NowNs();
    if (now >= next) {
      DecideNow();
      const int64_t step = static_cast<int64_t>(config_->decision_interval_s * 1e9);
      next = std::max(next + step, now + step / 2);
    }
  }
}

}  // namespace lagscale::coordinator
