// Report deltas -> per-model time-bucketed demand. See aggregator.h for the rules.
#include "lagscale/coordinator/aggregator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "aggregator_state.h"

namespace lagscale::coordinator {

namespace {

uint64_t Completions(const v1::ModelCounters& m) {
  const auto& o = m.outcomes();
  return o.success() + o.client_error() + o.server_error() + o.upstream_error() + o.client_abort() +
         o.timeout();
}

// Buckets for `history_s` and a few more, rounded up to a power of two: a ring slot is then a
// mask away (ModelDemand::Slot), where a division took a tenth of a window sum.
size_t RingBuckets(double history_s, int64_t bucket_ns) {
  return std::bit_ceil(static_cast<size_t>(std::ceil(history_s * 1e9 / bucket_ns)) + 4);
}

}  // namespace

Aggregator::Aggregator(Options options)
    : options_(options),
      bucket_ns_(std::clamp<int64_t>(static_cast<int64_t>(options.bucket_s * 1e9), 1'000'000,
                                     kMaxBucketNs)),
      buckets_(RingBuckets(options.history_s, bucket_ns_)) {}

Aggregator::~Aggregator() = default;

ModelDemand* Aggregator::ModelFor(const std::string& name, const PodState& pod) {
  auto it = models_.find(name);
  const bool over_pod = pod.models.size() >= limits_.max_models_per_pod;
  const bool over_all = it == models_.end() && models_.size() >= limits_.max_models;
  if (over_pod || over_all) {
    ++refusals_.models;
    refusals_.last = "model \"" + name.substr(0, 128) + "\" from pod " + pod.server + "/" +
                     pod.pod + ": " +
                     (over_pod ? "pod reports more than maxModelsPerPod " +
                                     std::to_string(limits_.max_models_per_pod) + " models"
                               : "maxModels " + std::to_string(limits_.max_models) + " reached");
    return nullptr;
  }
  if (it == models_.end()) {
    it = models_.emplace(name, std::make_unique<ModelDemand>(*this, name, bucket_ns_, buckets_))
             .first;
    ++roster_generation_;
  }
  return it->second.get();
}

ModelDemand* Aggregator::FindModel(const std::string& name) {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second.get();
}

void Aggregator::Detach(PodState& pod, bool disruption) {
  for (auto& [name, pm] : pod.models) pm.model->RemoveHost(pm, now_ns_, disruption);
  pod.models.clear();
  pod.inflight = 0;
}

Aggregator::Outcome Aggregator::Apply(const v1::PodReport& report, int64_t now_ns,
                                      int64_t now_unix_ms) {
  ++generation_;
  now_ns_ = std::max(now_ns_, now_ns);
  now_unix_ms_ = std::max(now_unix_ms_, now_unix_ms);
  if (report.pod().empty()) return Outcome::kInvalid;
  std::string key;
  key.reserve(report.server().size() + report.pod().size() + 1);
  key.append(report.server()).append(1, '/').append(report.pod());
  const auto found = pods_.find(key);
  const bool is_new = found == pods_.end();
  if (auto refused = Admit(report, is_new)) return *refused;
  hosted_.clear();
  hosted_twice_ = -1;
  if (is_new) {  // checked before the pod exists, so a refused first report leaves no trace
    if (auto twice = ListedTwice(report, /*stamped=*/false)) return *twice;
  }
  PodState& pod = is_new ? NewPod(key, report) : *found->second;
  bool restart = !is_new && report.incarnation() != pod.incarnation;
  if (restart && pod.superseded != 0 && report.incarnation() == pod.superseded) {
    return Superseded(report, pod, key);
  }
  // A baseline's models are all new to the pod (a restart detaches the old ones); a continuing
  // report's were looked up by Continuity().
  if (!is_new && !restart) {
    if (auto stop = Continuity(report, pod, key, restart)) return *stop;
  }
  const bool baseline = is_new || restart;
  if (!is_new) {
    if (auto twice = ListedTwice(report, /*stamped=*/!baseline)) return *twice;
  }
  if (baseline) {
    hosted_.clear();
    Rebase(pod, report, now_ns, restart);
  }
  // The report covers [t0, t1] on the coordinator's clock, ending no later than its arrival.
  const int64_t snap = report.snapshot_monotonic_ns();
  const int64_t dt = snap - pod.last_snapshot_ns;
  pod.offset_ns = std::min(pod.offset_ns, now_ns - snap);
  const int64_t t1 = std::min(snap + pod.offset_ns, now_ns);
  const int64_t t0 = t1 - dt;
  for (int i = 0; i < report.models_size(); ++i) {
    const auto n = static_cast<size_t>(i);
    ApplyModel(report.models(i), pod, n < hosted_.size() ? hosted_[n] : nullptr, baseline, t0, t1,
               now_ns);
  }
  if (!baseline && !report.early()) pod.interval_ns = (pod.interval_ns * 3 + dt) / 4;
  pod.sequence = report.sequence();
  pod.last_snapshot_ns = snap;
  pod.last_point_ns = t1;
  pod.last_recv_ns = now_ns;
  if (restart) return Outcome::kRestart;
  return baseline ? Outcome::kBaseline : Outcome::kApplied;
}

PodState& Aggregator::NewPod(const std::string& key, const v1::PodReport& report) {
  auto& slot = pods_[key];
  slot = std::make_unique<PodState>();
  slot->server = report.server();
  slot->pod = report.pod();
  return *slot;
}

std::optional<Aggregator::Outcome> Aggregator::Continuity(const v1::PodReport& report,
                                                          PodState& pod, const std::string& key,
                                                          bool& restart) {
  if (report.sequence() == pod.sequence) return Outcome::kDuplicate;
  if (report.sequence() < pod.sequence || report.snapshot_monotonic_ns() <= pod.last_snapshot_ns) {
    return Outcome::kOutOfOrder;
  }
  // Counters going backwards within one incarnation also mean the sidecar started over.
  for (const auto& mc : report.models()) {
    auto it = pod.models.find(mc.model());
    hosted_.push_back(it == pod.models.end() ? nullptr : &it->second);
    if (it == pod.models.end()) continue;
    PodModel& pm = it->second;
    if (pm.listed == generation_ && hosted_twice_ < 0) {
      hosted_twice_ = static_cast<int>(hosted_.size() - 1);
    }
    pm.listed = generation_;
    if (mc.arrivals() < pm.arrivals || Completions(mc) < pm.completions ||
        mc.busy_seconds() < pm.busy - 1e-9 || mc.prompt_tokens() < pm.prompt_tokens ||
        mc.completion_tokens() < pm.completion_tokens) {
      restart = true;
      return std::nullopt;
    }
    if (mc.arrivals() - pm.arrivals > kMaxCounterStep ||
        Completions(mc) - pm.completions > kMaxCounterStep ||
        mc.prompt_tokens() - pm.prompt_tokens > kMaxCounterStep ||
        mc.completion_tokens() - pm.completion_tokens > kMaxCounterStep) {
      ++refusals_.values;
      refusals_.last = "report from " + key.substr(0, 256) + " rejected: model \"" +
                       mc.model().substr(0, 128) + "\" counters jumped by more than 2^32";
      return Outcome::kRejected;
    }
  }
  return std::nullopt;
}

void Aggregator::Rebase(PodState& pod, const v1::PodReport& report, int64_t now_ns, bool restart) {
  if (restart) {
    Detach(pod, /*disruption=*/true);
    pod.superseded = pod.incarnation;
    pod.superseded_reports = 0;
  }
  const int64_t snap = report.snapshot_monotonic_ns();
  pod.incarnation = report.incarnation();
  pod.offset_ns = now_ns - snap;
  pod.last_snapshot_ns = snap - 1;  // so that the baseline reads as a zero-length delta
}

void Aggregator::ApplyModel(const v1::ModelCounters& mc, PodState& pod, PodModel* hosted,
                            bool baseline, int64_t t0, int64_t t1, int64_t now_ns) {
  const bool added = hosted == nullptr;
  const uint64_t completions = Completions(mc);
  if (added) {
    ModelDemand* admitted = ModelFor(mc.model(), pod);
    if (!admitted) return;  // over a limit: counted in refusals_
    // First sight of this model on this pod: its counters become the baseline.
    hosted = &pod.models.try_emplace(mc.model()).first->second;
    hosted->pod = &pod;
    hosted->model = admitted;
    admitted->AddHost(*hosted, pod.server);
  } else if (!baseline) {
    const PodModel& pm = *hosted;
    pm.model->Spread(t0, t1,
                     {mc.busy_seconds() - pm.busy, static_cast<double>(mc.arrivals() - pm.arrivals),
                      static_cast<double>(completions - pm.completions),
                      static_cast<double>(mc.prompt_tokens() - pm.prompt_tokens),
                      static_cast<double>(mc.completion_tokens() - pm.completion_tokens)});
  }
  PodModel& pm = *hosted;
  ApplyFirstBytes(mc, pm, baseline || added, now_ns);
  pm.model->Observe(mc.inflight() - pm.inflight, mc.last_request_unix_ms());
  pod.inflight += mc.inflight() - pm.inflight;
  pm.arrivals = mc.arrivals();
  pm.completions = completions;
  pm.busy = mc.busy_seconds();
  pm.inflight = mc.inflight();
  pm.prompt_tokens = mc.prompt_tokens();
  pm.completion_tokens = mc.completion_tokens();
}

int Aggregator::Advance(int64_t now_ns, int64_t now_unix_ms) {
  ++generation_;
  now_ns_ = std::max(now_ns_, now_ns);
  now_unix_ms_ = std::max(now_unix_ms_, now_unix_ms);
  const int64_t ttl_ns = static_cast<int64_t>(options_.ttl_s * 1e9);
  int expired = 0;
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (now_ns_ - it->second->last_recv_ns > ttl_ns) {
      Detach(*it->second, /*disruption=*/true);
      it = pods_.erase(it);
      ++expired;
    } else {
      ++it;
    }
  }
  Forget();
  return expired;
}

std::vector<PodView> Aggregator::Pods() const {
  std::vector<PodView> out;
  out.reserve(pods_.size());
  for (const auto& [key, p] : pods_) {
    PodView v{p->server,
              p->pod,
              p->incarnation,
              p->sequence,
              static_cast<double>(now_ns_ - p->last_recv_ns) / 1e9,
              p->inflight,
              p->models.size()};
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const PodView& a, const PodView& b) {
    return a.server != b.server ? a.server < b.server : a.pod < b.pod;
  });
  return out;
}

std::unordered_map<std::string, int> Aggregator::PodsPerServer() const {
  std::unordered_map<std::string, int> out;
  for (const auto& [key, p] : pods_) ++out[p->server];
  return out;
}

size_t Aggregator::pod_count() const { return pods_.size(); }

}  // namespace lagscale::coordinator
