// The single-writer loop: reports in, decisions out. See engine.h.
#include "lagscale/coordinator/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "engine_state.h"

namespace lagscale::coordinator {
namespace {

Aggregator::Options AggregatorOptions(const Config& c) {
  Aggregator::Options o;
  o.ttl_s = c.report_ttl_s;
  o.history_s = c.HistorySeconds();
  return o;
}

// Seldon's bounds, when read, override the file's; the upper bound is at least 1 and the lower
// never above it. PolicyConfig: ModelPolicyConfig or ServerPolicyConfig.
template <typename PolicyConfig>
PolicyConfig WithBounds(PolicyConfig c, std::optional<int> lo, std::optional<int> hi) {
  if (lo) c.min_replicas = *lo;
  if (hi) c.max_replicas = std::max(*hi, 1);
  c.min_replicas = std::min(c.min_replicas, c.max_replicas);
  return c;
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

std::unique_ptr<google::protobuf::Arena> Engine::NewReportArena() {
  // Blocks from 4 KiB up to 64 KiB: a 1,000-model report (41 KB on the wire) takes seven, 252 KiB.
  google::protobuf::ArenaOptions options;
  options.start_block_size = size_t{4} << 10;
  options.max_block_size = size_t{64} << 10;
  return std::make_unique<google::protobuf::Arena>(options);
}

std::optional<Engine::Received> Engine::Admit(std::unique_ptr<google::protobuf::Arena> arena,
                                              const v1::PodReport* report, size_t bytes) {
  if (queued_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes > kMaxQueuedReportBytes) {
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    return std::nullopt;
  }
  return Received{std::move(arena), report, bytes, NowNs(), NowUnixMs()};
}

bool Engine::Enqueue(v1::PodReport&& report) {
  auto arena = NewReportArena();
  auto* copy = google::protobuf::Arena::CreateMessage<v1::PodReport>(arena.get());
  *copy = std::move(report);  // a copy: the arenas differ (tests and benchmarks only)
  auto received = Admit(std::move(arena), copy, copy->ByteSizeLong());
  if (received) reports_.enqueue(std::move(*received));
  return received.has_value();
}

Engine::Producer::Producer(Engine& engine) : engine_(engine), token_(engine.reports_) {}

v1::PodReport* Engine::Producer::Next() {
  arena_ = NewReportArena();
  next_ = google::protobuf::Arena::CreateMessage<v1::PodReport>(arena_.get());
  return next_;
}

bool Engine::Producer::EnqueueNext(size_t wire_bytes) {
  auto received = engine_.Admit(std::move(arena_), next_, wire_bytes);
  next_ = nullptr;
  if (received) engine_.reports_.enqueue(token_, std::move(*received));
  return received.has_value();
}

bool Engine::Producer::Enqueue(v1::PodReport&& report) {
  Next();
  *next_ = std::move(report);
  return EnqueueNext(next_->ByteSizeLong());
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
  for (auto& [name, e] : models_) Configure(*e);
  for (auto& [name, e] : servers_) Configure(*e);
}

void Engine::Configure(ModelEntry& e) {
  const ModelConfig* mc = config_->FindModel(e.name());
  const ModelPolicyConfig next =
      WithBounds(mc ? mc->policy : config_->defaults, e.seldon_min, e.seldon_max);
  e.config_server = mc ? mc->server : "";
  e.target = mc && mc->target ? mc->target : SeldonTarget(TargetKind::kModel, e.name());
  if (!e.policy || next != e.config) {
    e.config = next;
    e.policy = options_.model_policy(next);
  }
}

void Engine::Configure(ServerEntry& e) {
  const ServerConfig* sc = config_->FindServer(e.name());
  const ServerPolicyConfig next =
      WithBounds(sc ? sc->policy : ServerPolicyConfig{}, e.seldon_min, e.seldon_max);
  e.target = sc && sc->target ? sc->target : SeldonTarget(TargetKind::kServer, e.name());
  if (!e.sizer || next != e.config) {
    e.config = next;
    e.sizer = options_.server_sizer(next);
  }
}

template <typename Entry>
Entry& Engine::EntryFor(std::unordered_map<std::string, std::unique_ptr<Entry>>& entries,
                        TargetKind kind, const std::string& name) {
  auto& slot = entries[name];
  if (!slot) {
    slot = std::make_unique<Entry>();
    slot->key = TargetKey{kind, name};
    Configure(*slot);
    RequestRead(*slot);
  }
  return *slot;
}

Engine::ModelEntry& Engine::Model(const std::string& name) {
  return EntryFor(models_, TargetKind::kModel, name);
}

Engine::ServerEntry& Engine::Server(const std::string& name) {
  return EntryFor(servers_, TargetKind::kServer, name);
}

Engine::TargetEntry* Engine::Find(const TargetKey& key) {
  if (key.kind == TargetKind::kModel) {
    auto it = models_.find(key.name);
    return it == models_.end() ? nullptr : it->second.get();
  }
  auto it = servers_.find(key.name);
  return it == servers_.end() ? nullptr : it->second.get();
}

void Engine::RequestRead(const TargetEntry& e) {
  if (options_.reader && e.target) options_.reader->RequestRead(e.key, *e.target);
}

void Engine::ApplyReceived(const Received& r) {
  queued_bytes_.fetch_sub(r.bytes, std::memory_order_relaxed);
  const auto outcome = aggregator_.Apply(*r.report, r.recv_ns, r.recv_unix_ms);
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
  if (options_.metrics) options_.metrics->OnReport(outcome, r.report->models_size());
  if (aggregator_.refusals().models + aggregator_.refusals().pods + aggregator_.refusals().values !=
      refusals_seen_) {
    ReportRefusals();
  }
}

size_t Engine::DrainReports(int64_t until_ns) {
  thread_local std::vector<Received> batch(256);
  size_t total = 0;
  for (;;) {
    const size_t n = reports_.try_dequeue_bulk(batch.begin(), batch.size());
    for (size_t i = 0; i < n; ++i) {
      ApplyReceived(batch[i]);
      batch[i].arena.reset();  // the report's memory goes now, not when the slot is reused
    }
    total += n;
    if (n < batch.size() || NowNs() >= until_ns) return total;
  }
}

void Engine::AbsorbResults() {
  // Only the actuator reads replicas; a separate reader reads Seldon's bounds alone.
  if (options_.actuator) AbsorbReads(*options_.actuator);
  if (options_.reader) AbsorbReads(*options_.reader);
  if (!options_.actuator) return;
  ActuationReport report;
  while (options_.actuator->PollResult(report)) AbsorbActuation(report);
}

void Engine::AbsorbReads(ActuationWorker& worker) {
  ReadReport read;
  while (worker.PollRead(read)) AbsorbRead(read, &worker == options_.actuator);
}

void Engine::AbsorbRead(const ReadReport& read, bool replicas_read) {
  if (!read.reading.ok) {
    spdlog::warn("reading {} failed: {}", read.key.ToString(), read.reading.error);
    return;
  }
  TargetEntry* e = Find(read.key);
  if (!e) return;
  if (replicas_read && read.reading.replicas >= 0) e->observed = read.reading.replicas;
  if (!config_->seldon.enabled) return;
  e->seldon_min = read.reading.min_replicas;
  e->seldon_max = read.reading.max_replicas;
  ApplyConfig(config_);  // re-derives every bound; keeps unchanged policies
}

void Engine::AbsorbActuation(const ActuationReport& report) {
  const auto& r = report.result;
  ActuationState state{StatusName(r.status), r.http_status, r.error, NowUnixMs()};
  const bool done =
      r.status == ActuationResult::Status::kOk || r.status == ActuationResult::Status::kSkipped;
  if (TargetEntry* e = Find(TargetKey{report.request.kind, report.request.name})) {
    e->actuation = state;
    if (done) e->observed = r.observed_replicas >= 0 ? r.observed_replicas : report.request.to;
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

void Engine::Record(TargetEntry& e, const std::string& server, int from, const Decision& d) {
  const int64_t now_ms = NowUnixMs();
  const bool model = e.key.kind == TargetKind::kModel;
  DecisionRecord rec{model ? "model" : "server", e.name(), now_ms, from, d.desired, d.reason};
  spdlog::info("decision: {} {} {} -> {} ({})", rec.kind, e.name(), from, d.desired, d.reason);
  recent_.push_front(rec);
  if (recent_.size() > 50) recent_.pop_back();
  (model ? model_history_ : server_history_).AddDecision(e.name(), rec);
  e.last = std::move(rec);
  if (options_.metrics) {
    options_.metrics->OnDecision(d.desired > from ? Direction::kUp : Direction::kDown);
  }
  Submit(e, server, from, d, now_ms);
}

void Engine::Submit(TargetEntry& e, const std::string& server, int from, const Decision& d,
                    int64_t now_ms) {
  // A target KEDA scales is only reported (KEDA reads the decision); one writer per target.
  const bool model = e.key.kind == TargetKind::kModel;
  const bool keda = (model ? config_->ModelActuator(e.name())
                           : config_->ServerActuator(e.name())) == ActuatedBy::kKeda;
  if (!options_.actuator || keda || d.desired == e.submitted || !WritesThisCycle()) return;
  ScaleRequest req;
  req.kind = e.key.kind;
  req.name = e.name();
  req.server = server;
  req.name_space = e.target ? e.target->name_space
                            : (config_->seldon.enabled ? config_->seldon.name_space : "default");
  req.target = e.target;
  req.from = from;
  req.to = d.desired;
  req.reason = d.reason;
  req.time_unix_ms = now_ms;
  req.never_lower = NowNs() < hand_over_until_ns_;
  options_.actuator->Submit(std::move(req));
  e.submitted = d.desired;
}

}  // namespace lagscale::coordinator
