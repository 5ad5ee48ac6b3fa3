// The aggregator's defences against untrusted reports: absurd values, caps, forgetting.
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator_state.h"
#include "lagscale/base/names.h"
#include "lagscale/coordinator/aggregator.h"

namespace lagscale::coordinator {
namespace {

// Counters a real sidecar cannot reach in centuries (and whose sums would overflow).
constexpr uint64_t kMaxCounter = uint64_t{1} << 53;

// Why `h` cannot be a real sidecar's time-to-first-byte histogram; empty when it can. Each model
// keeps a copy of its pods' bucket counts, so their number is capped.
std::string AbsurdHistogram(const v1::Histogram& h) {
  constexpr int kMaxBuckets = 64;
  const auto& bounds = h.upper_bounds_seconds();
  if (bounds.size() > kMaxBuckets || h.counts_size() != bounds.size() + 1) {
    return "a first-byte histogram of " + std::to_string(h.counts_size()) + " counts for " +
           std::to_string(bounds.size()) + " bounds";
  }
  for (int i = 0; i < bounds.size(); ++i) {
    if (!(std::isfinite(bounds[i]) && bounds[i] > 0 && (i == 0 || bounds[i] > bounds[i - 1]))) {
      return "first-byte bucket bounds that are not finite, positive and ascending";
    }
  }
  for (uint64_t c : h.counts()) {
    if (c > kMaxCounter) return "first-byte count " + std::to_string(c);
  }
  if (!(h.sum_seconds() >= 0 && std::isfinite(h.sum_seconds()))) return "a first-byte sum";
  return {};
}

// Why `m` cannot be a real sidecar's counters; empty when it can.
std::string Absurd(const v1::ModelCounters& m) {
  if (m.inflight() < 0 || m.inflight() > Aggregator::kMaxInflight) {
    return "in-flight " + std::to_string(m.inflight());
  }
  // NaN, negative or astronomically large busy time would poison every window it is spread over.
  constexpr double kMaxBusySeconds = 1e12;  // 1,000 requests in flight for 31 years
  if (!(m.busy_seconds() >= 0 && m.busy_seconds() <= kMaxBusySeconds)) {
    return "busy seconds " + std::to_string(m.busy_seconds());
  }
  const auto& o = m.outcomes();
  for (uint64_t v :
       {m.arrivals(), o.success(), o.client_error(), o.server_error(), o.upstream_error(),
        o.client_abort(), o.timeout(), m.prompt_tokens(), m.completion_tokens()}) {
    if (v > kMaxCounter) return "counter " + std::to_string(v);
  }
  return m.has_time_to_first_byte() ? AbsurdHistogram(m.time_to_first_byte()) : std::string();
}

// A name from a report as a message may show it: quoted, cut to 64 bytes, control bytes as '?'.
std::string Shown(std::string_view name) {
  std::string out(name.substr(0, 64));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return "\"" + out + (name.size() > 64 ? "...\"" : "\"");
}

// Why the names in `report` cannot be a sidecar's; empty when they can. Names become metric
// labels and /status keys, and a pod is keyed "server/pod", so each follows the rule the sidecar
// applies to its own (lagscale/base/names.h). That a model is listed once is checked later, by
// Aggregator::ListedTwice().
std::string BadNames(const v1::PodReport& report) {
  if (!base::IsValidIdentityName(report.pod())) return "pod name " + Shown(report.pod());
  if (!report.server().empty() && !base::IsValidIdentityName(report.server())) {
    return "server name " + Shown(report.server());
  }
  for (const auto& m : report.models()) {
    if (!base::IsValidModelName(m.model())) return "model name " + Shown(m.model());
  }
  return {};
}

}  // namespace

// A second entry for a model would be applied as a delta against the first. The models the pod
// hosts were stamped by Continuity() (a second stamp is the second entry); the others, which a
// report rarely has, are compared by name.
std::optional<Aggregator::Outcome> Aggregator::ListedTwice(const v1::PodReport& report,
                                                           bool stamped) {
  std::string_view twice;
  if (stamped && hosted_twice_ >= 0) twice = report.models(hosted_twice_).model();
  std::vector<std::string_view> names;
  for (int i = 0; twice.empty() && i < report.models_size(); ++i) {
    const auto n = static_cast<size_t>(i);
    if (!stamped || n >= hosted_.size() || !hosted_[n]) names.push_back(report.models(i).model());
  }
  std::sort(names.begin(), names.end());
  if (auto it = std::adjacent_find(names.begin(), names.end()); it != names.end()) twice = *it;
  if (twice.empty()) return std::nullopt;
  ++refusals_.values;
  refusals_.last = "report rejected: model " + Shown(twice) + " listed twice";
  return Outcome::kRejected;
}

std::optional<Aggregator::Outcome> Aggregator::Admit(const v1::PodReport& report, bool new_pod) {
  if (std::string why = BadNames(report); !why.empty()) {
    ++refusals_.values;
    refusals_.last = "report rejected: " + why;
    return Outcome::kRejected;
  }
  const std::string who = report.server() + "/" + report.pod();
  // Snapshot times near the ends of int64 would overflow the delta arithmetic.
  constexpr int64_t kMaxSnapshotNs = int64_t{1} << 62;  // ~146 years of sidecar uptime
  const int64_t snapshot = report.snapshot_monotonic_ns();
  if (snapshot < 0 || snapshot > kMaxSnapshotNs) {
    ++refusals_.values;
    refusals_.last = "report from " + who.substr(0, 256) + " rejected: snapshot time " +
                     std::to_string(snapshot) + " ns";
    return Outcome::kRejected;
  }
  for (const auto& m : report.models()) {
    const std::string why = Absurd(m);
    if (why.empty()) continue;
    ++refusals_.values;
    refusals_.last = "report from " + who.substr(0, 256) + " rejected: model \"" +
                     m.model().substr(0, 128) + "\" has " + why;
    return Outcome::kRejected;
  }
  if (new_pod && pods_.size() >= limits_.max_pods) {
    ++refusals_.pods;
    refusals_.last = "pod " + who.substr(0, 256) + " refused: maxPods " +
                     std::to_string(limits_.max_pods) + " reached";
    return Outcome::kRefused;
  }
  return std::nullopt;
}

Aggregator::Outcome Aggregator::Superseded(const v1::PodReport& report, PodState& pod,
                                           const std::string& key) {
  if (++pod.superseded_reports < 2) return Outcome::kOutOfOrder;
  ++refusals_.values;
  refusals_.last = "report from " + key.substr(0, 256) +
                   " rejected: two sidecars report as this pod (incarnations " +
                   std::to_string(report.incarnation()) + " and " +
                   std::to_string(pod.incarnation) + "); give each its own --pod-name";
  return Outcome::kRejected;
}

void Aggregator::Forget() {
  const auto history_ns = static_cast<int64_t>(options_.history_s * 1e9);
  for (auto it = models_.begin(); it != models_.end();) {
    if (it->second->Forgettable(now_ns_, history_ns)) {
      it = models_.erase(it);
      ++roster_generation_;
    } else {
      ++it;
    }
  }
}

}  // namespace lagscale::coordinator
