// The single-writer loop: reports in, decisions out. See engine.h.
#include "lagscale/coordinator/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "engine_state.h"

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

Aggregator::Options AggregatorOptions(const Config& c) {
  Aggregator::Options o;
  o.ttl_s = c.report_ttl_s;
  o.history_s = c.HistorySeconds();
  return o;
}

ModelPolicyConfig WithBounds(ModelPolicyConfig c, std::optional<int> lo, std::optional<int> hi) {
  if (lo) c.min_replicas = *lo;
  if (hi) c.max_replicas = std::max(*hi, 1);
  c.min_replicas = std::min(c.min_replicas, c.max_replicas);
  return c;
}

ServerPolicyConfig WithBounds(ServerPolicyConfig c, std::optional<int> lo, std::optional<int> hi) {
  if (lo) c.min_replicas = *lo;
  if (hi) c.max_replicas = std::max(*hi, 1);
  c.min_replicas = std::min(c.min_replicas, c.max_replicas);
  return c;
}

int CurrentOf(int observed, int desired, int hosting, int lo, int hi) {
  if (observed >= 0) return observed;
  if (desired >= 0) return desired;
  return hosting > 0 ? std::clamp(hosting, lo, hi) : lo;
}

}  // namespace

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      aggregator_(AggregatorOptions(*options_.config)),
      model_history_(options_.history_models),
      server_history_(options_.history_servers) {
  if (!options_.clock) options_.clock = &base::SystemClock::Get();
  health_.name = options_.actuator ? options_.actuator->actuator_name() : "none";
  ApplyConfig(options_.config);
}

Engine::~Engine() { Stop(); }

int64_t Engine::NowNs() const { return options_.clock->MonotonicNs(); }
int64_t Engine::NowUnixMs() const { return options_.clock->UnixNs() / 1'000'000; }

void Engine::Enqueue(v1::PodReport&& report) {
  reports_.enqueue(Received{std::move(report), NowNs(), NowUnixMs()});
}

void Engine::Reload(std::shared_ptr<const Config> config) { reloads_.enqueue(std::move(config)); }

std::shared_ptr<const StatusSnapshot> Engine::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

std::optional<ScaleTarget> Engine::SeldonTarget(TargetKind kind, const std::string& name) const {
  if (!config_->seldon.enabled) return std::nullopt;
  return MakeScaleTarget("mlops.seldon.io/v1alpha1",
                         kind == TargetKind::kModel ? "Model" : "Server", name,
                         config_->seldon.name_space);
}

void Engine::ApplyConfig(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  aggregator_.set_ttl_seconds(config_->report_ttl_s);
  aggregator_.set_limits(config_->limits);
  for (auto& [name, e] : models_) {
    const ModelConfig* mc = config_->FindModel(name);
    const ModelPolicyConfig next =
        WithBounds(mc ? mc->policy : config_->defaults, e->seldon_min, e->seldon_max);
    e->config_server = mc ? mc->server : "";
    e->target = mc && mc->target ? mc->target : SeldonTarget(TargetKind::kModel, name);
    if (next != e->config) {
      e->config = next;
      e->policy = options_.model_policy(next);
    }
  }
  for (auto& [name, e] : servers_) {
    const ServerConfig* sc = config_->FindServer(name);
    const ServerPolicyConfig next =
        WithBounds(sc ? sc->policy : ServerPolicyConfig{}, e->seldon_min, e->seldon_max);
    e->target = sc && sc->target ? sc->target : SeldonTarget(TargetKind::kServer, name);
    if (next != e->config) {
      e->config = next;
      e->sizer = options_.server_sizer(next);
    }
  }
}

Engine::ModelEntry& Engine::Model(const std::string& name) {
  auto& slot = models_[name];
  if (!slot) {
    slot = std::make_unique<ModelEntry>();
    slot->name = name;
    const ModelConfig* mc = config_->FindModel(name);
    slot->config = mc ? mc->policy : config_->defaults;
    slot->config_server = mc ? mc->server : "";
    slot->target = mc && mc->target ? mc->target : SeldonTarget(TargetKind::kModel, name);
    slot->policy = options_.model_policy(slot->config);
    if (options_.reader && slot->target)
      options_.reader->RequestRead("model/" + name, *slot->target);
  }
  return *slot;
}

Engine::ServerEntry& Engine::Server(const std::string& name) {
  auto& slot = servers_[name];
  if (!slot) {
    slot = std::make_unique<ServerEntry>();
    slot->name = name;
    const ServerConfig* sc = config_->FindServer(name);
    slot->config = sc ? sc->policy : ServerPolicyConfig{};
    slot->target = sc && sc->target ? sc->target : SeldonTarget(TargetKind::kServer, name);
    slot->sizer = options_.server_sizer(slot->config);
    if (options_.reader && slot->target)
      options_.reader->RequestRead("server/" + name, *slot->target);
  }
  return *slot;
}

void Engine::ApplyReceived(const Received& r) {
  const auto outcome = aggregator_.Apply(r.report, r.recv_ns, r.recv_unix_ms);
  ++received_;
  switch (outcome) {
    case Aggregator::Outcome::kApplied:
    case Aggregator::Outcome::kBaseline:
      ++applied_;
      break;
    case Aggregator::Outcome::kRestart:
      ++applied_;
      ++restarts_;
      break;
    default:
      ++ignored_;
  }
  if (options_.metrics) options_.metrics->OnReport(outcome, r.report.models_size());
  if (aggregator_.refusals().models + aggregator_.refusals().pods + aggregator_.refusals().values !=
      refusals_seen_) {
    ReportRefusals();
  }
}

size_t Engine::DrainReports() {
  thread_local std::vector<Received> batch(256);
  size_t total = 0;
  for (;;) {
    const size_t n = reports_.try_dequeue_bulk(batch.begin(), batch.size());
    for (size_t i = 0; i < n; ++i) ApplyReceived(batch[i]);
    total += n;
    if (n < batch.size()) return total;
  }
}

void Engine::AbsorbResults() {
  for (ActuationWorker* w : {options_.actuator, options_.reader}) {
    if (!w) continue;
    ReadReport read;
    while (w->PollRead(read)) {
      const bool is_model = read.key.rfind("model/", 0) == 0;
      const std::string name = read.key.substr(is_model ? 6 : 7);
      if (!read.reading.ok) {
        spdlog::warn("reading {} failed: {}", read.key, read.reading.error);
        continue;
      }
      const bool seldon = config_->seldon.enabled;
      const int replicas = w == options_.actuator ? read.reading.replicas : -1;
      if (is_model) {
        auto it = models_.find(name);
        if (it == models_.end()) continue;
        ModelEntry& e = *it->second;
        if (replicas >= 0) e.observed = replicas;
        if (seldon) {
          e.seldon_min = read.reading.min_replicas;
          e.seldon_max = read.reading.max_replicas;
        }
      } else {
        auto it = servers_.find(name);
        if (it == servers_.end()) continue;
        ServerEntry& e = *it->second;
        if (replicas >= 0) e.observed = replicas;
        if (seldon) {
          e.seldon_min = read.reading.min_replicas;
          e.seldon_max = read.reading.max_replicas;
        }
      }
      if (seldon) ApplyConfig(config_);  // re-derives every bound; keeps unchanged policies
    }
  }
  if (!options_.actuator) return;
  ActuationReport report;
  while (options_.actuator->PollResult(report)) {
    const auto& r = report.result;
    ActuationState state{StatusName(r.status), r.http_status, r.error, NowUnixMs()};
    const bool done =
        r.status == ActuationResult::Status::kOk || r.status == ActuationResult::Status::kSkipped;
    const int observed = r.observed_replicas >= 0 ? r.observed_replicas : report.request.to;
    if (report.request.kind == TargetKind::kModel) {
      if (auto it = models_.find(report.request.name); it != models_.end()) {
        it->second->actuation = state;
        if (done) it->second->observed = observed;
      }
    } else if (auto it = servers_.find(report.request.name); it != servers_.end()) {
      it->second->actuation = state;
      if (done) it->second->observed = observed;
    }
    switch (r.status) {
      case ActuationResult::Status::kOk:
        ++health_.succeeded;
        break;
      case ActuationResult::Status::kRetry:
        ++health_.retried;
        break;
      case ActuationResult::Status::kFailed:
        ++health_.failed;
        break;
      case ActuationResult::Status::kSkipped:
        break;
    }
    if (!done) health_.last_error = std::make_pair(report.request.Key(), state);
    if (options_.metrics) options_.metrics->OnActuation(state.status.c_str(), r.http_status);
  }
}

void Engine::Record(TargetKind kind, const std::string& name, const std::string& server,
                    const std::optional<ScaleTarget>& target, int from, int to,
                    const std::string& reason, int& submitted,
                    std::optional<DecisionRecord>& last) {
  const int64_t now_ms = NowUnixMs();
  DecisionRecord d{kind == TargetKind::kModel ? "model" : "server", name, now_ms, from, to, reason};
  spdlog::info("decision: {} {} {} -> {} ({})", d.kind, name, from, to, reason);
  recent_.push_front(d);
  if (recent_.size() > 50) recent_.pop_back();
  (kind == TargetKind::kModel ? model_history_ : server_history_).AddDecision(name, d);
  last = std::move(d);
  if (options_.metrics) options_.metrics->OnDecision(to > from ? Direction::kUp : Direction::kDown);
  // A target KEDA scales is only reported (KEDA reads the decision); one writer per target.
  const bool keda =
      (kind == TargetKind::kModel ? config_->ModelActuator(name) : config_->ServerActuator(name)) ==
      ActuatedBy::kKeda;
  if (!options_.actuator || keda || to == submitted || !Leading()) return;
  ScaleRequest req;
  req.kind = kind;
  req.name = name;
  req.server = server;
  req.name_space = target ? target->name_space
                          : (config_->seldon.enabled ? config_->seldon.name_space : "default");
  req.target = target;
  req.from = from;
  req.to = to;
  req.reason = reason;
  req.time_unix_ms = now_ms;
  options_.actuator->Submit(std::move(req));
  submitted = to;
}

void Engine::DecideNow() {
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const Config> next;
  while (reloads_.try_dequeue(next)) ApplyConfig(std::move(next));
  const int64_t now_ns = NowNs();
  const int expired = aggregator_.Advance(now_ns, NowUnixMs());
  expired_ += static_cast<uint64_t>(expired);
  if (options_.metrics) {
    if (expired) options_.metrics->OnPodsExpired(expired);
    options_.metrics->SetPods(aggregator_.pod_count());
  }
  AbsorbResults();
  FollowLeadership(now_ns);
  if (options_.reader && now_ns - last_seldon_read_ns_ > options_.seldon_read_interval_s * 1e9) {
    last_seldon_read_ns_ = now_ns;
    for (auto& [name, e] : models_) {
      if (e->target) options_.reader->RequestRead("model/" + name, *e->target);
    }
    for (auto& [name, e] : servers_) {
      if (e->target) options_.reader->RequestRead("server/" + name, *e->target);
    }
  }
  // New names are rare: walk the rosters only when the config or the set of models changed.
  if (roster_config_ != config_.get() || roster_models_ != aggregator_.roster_generation()) {
    roster_config_ = config_.get();
    roster_models_ = aggregator_.roster_generation();
    RebuildRoster();
  }
  for (auto& [name, s] : servers_) {
    s->models.clear();
    s->fresh = true;
  }

  static const NoDemand kNoDemand;
  const double now_s = static_cast<double>(now_ns) / 1e9;
  const int64_t history_second = NowUnixMs() / 1000;
  const bool sample_history = history_second != last_history_s_;
  for (auto& [name, ep] : models_) {
    ModelEntry& e = *ep;
    const ModelPolicyConfig& pc = e.config;
    if (e.demand) {
      e.demand->set_hold_seconds(
          std::max({pc.tracking.stable_window_s, pc.tracking.panic_window_s, pc.lag.lag_window_s}));
    }
    const DemandView& view = e.demand ? static_cast<const DemandView&>(*e.demand) : kNoDemand;
    const int hosting = e.demand ? static_cast<int>(e.demand->hosting_pods()) : 0;
    const int current = CurrentOf(e.observed, e.desired, hosting, pc.min_replicas, pc.max_replicas);
    Decision d = e.policy->Decide(ModelContext{now_s, current, view});
    HoldForHandOver(d, current, ReplicasUnread(e.target, e.observed));
    e.fresh = view.Fresh();
    const int previous = e.desired >= 0 ? e.desired : current;
    e.desired = d.desired;
    e.server = !e.config_server.empty() ? e.config_server : (e.demand ? e.demand->server() : "");
    if (d.desired != previous || (d.desired != current && e.submitted < 0)) {
      Record(TargetKind::kModel, name, e.server, e.target, current, d.desired, d.reason,
             e.submitted, e.last);
    }
    if (options_.metrics) options_.metrics->SetModelReplicas(name, current, e.desired);
    if (!e.server.empty()) {
      // The server's entry is looked up by name only when the model's server changes.
      if (!e.server_entry || e.server_entry->name != e.server) e.server_entry = &Server(e.server);
      ServerEntry& s = *e.server_entry;
      s.models.push_back(ServerModelDemand{name, e.desired, pc.memory_bytes});
      s.fresh = s.fresh && e.fresh;
    }
    if (sample_history) SampleModel(e, current);
  }

  const auto pods_per_server = aggregator_.PodsPerServer();
  for (auto& [name, sp] : servers_) {
    ServerEntry& s = *sp;
    const auto pods = pods_per_server.find(name);
    const int current =
        CurrentOf(s.observed, s.desired, pods == pods_per_server.end() ? 0 : pods->second,
                  s.config.min_replicas, s.config.max_replicas);
    Decision d = s.sizer->Decide(ServerContext{now_s, current, s.models, s.fresh});
    HoldForHandOver(d, current, ReplicasUnread(s.target, s.observed));
    const int previous = s.desired >= 0 ? s.desired : current;
    s.desired = d.desired;
    if (d.desired != previous || (d.desired != current && s.submitted < 0)) {
      Record(TargetKind::kServer, name, name, s.target, current, d.desired, d.reason, s.submitted,
             s.last);
    }
    if (options_.metrics) options_.metrics->SetServerReplicas(name, current, s.desired);
  }
  if (sample_history) {
    last_history_s_ = history_second;
    WriteHistory(history_second);
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options_.metrics) options_.metrics->SetDecisionCycleSeconds(took);
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
  thread_ = std::thread([this] { Run(); });
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
    const size_t applied = n + DrainReports();
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
