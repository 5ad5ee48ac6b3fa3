// The external scaler's pure part: scalerMetadata in, one answer per view out.
#include <algorithm>
#include <cctype>
#include <iterator>
#include <string_view>

#include "lagscale/base/names.h"
#include "lagscale/coordinator/keda_scaler.h"

namespace lagscale::coordinator {
namespace {

std::string Quote(const std::string& s) {
  return "\"" + (s.size() > 64 ? s.substr(0, 64) + "..." : s) + "\"";
}

// KEDA passes every key of the trigger's metadata on, the ones it reads itself to reach the
// scaler included (pkg/scalers/external_scaler.go): they are KEDA's, not lagscale's to judge.
bool KedasOwnKey(const std::string& key) {
  static constexpr std::string_view kKeys[] = {"scalerAddress", "enableTLS", "unsafeSsl",
                                               "tlsCertFile",   "caCert",    "tlsClientCert",
                                               "tlsClientKey"};
  return std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys);
}

}  // namespace

const char* KedaMetricName(KedaMetric metric) {
  switch (metric) {
    case KedaMetric::kConcurrency:
      return "concurrency";
    case KedaMetric::kInflight:
      return "inflight";
    default:
      return "desiredReplicas";
  }
}

std::string KedaQuery::MetricName() const {
  std::string metric = KedaMetricName(this->metric);
  std::transform(metric.begin(), metric.end(), metric.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::string("lagscale-") + (server ? "server-" : "model-") + name + "-" + metric;
}

std::string ParseKedaQuery(const std::map<std::string, std::string>& metadata, KedaQuery& query) {
  for (const auto& [key, value] : metadata) {
    if (key != "model" && key != "server" && key != "metric" && !KedasOwnKey(key)) {
      // The key comes from the caller: cut it short like any other echoed value.
      const std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
      return "scalerMetadata." + shown + ": unknown key (expected model or server, and metric)";
    }
  }
  const auto model = metadata.find("model"), server = metadata.find("server");
  if (model != metadata.end() && server != metadata.end()) {
    return "scalerMetadata: both model and server are set (name exactly one)";
  }
  if (model == metadata.end() && server == metadata.end()) {
    return "scalerMetadata: missing model or server (the name of what to scale on)";
  }
  const auto& [key, name] = model != metadata.end() ? *model : *server;
  if (!base::IsValidModelName(name)) {
    return "scalerMetadata." + key + ": invalid name " + Quote(name) +
           " (expected [A-Za-z0-9][A-Za-z0-9._-]{0,127})";
  }
  query.server = server != metadata.end();
  query.name = name;
  query.metric = KedaMetric::kDesiredReplicas;
  if (auto m = metadata.find("metric"); m != metadata.end()) {
    if (m->second == "desiredReplicas") {
      query.metric = KedaMetric::kDesiredReplicas;
    } else if (m->second == "concurrency") {
      query.metric = KedaMetric::kConcurrency;
    } else if (m->second == "inflight") {
      query.metric = KedaMetric::kInflight;
    } else {
      return "scalerMetadata.metric: unknown metric " + Quote(m->second) +
             " (expected desiredReplicas, concurrency or inflight)";
    }
  }
  return "";
}

KedaAnswer AnswerKedaQuery(const ScalerView& view, const KedaQuery& query) {
  KedaAnswer a;
  const auto& targets = query.server ? view.servers : view.models;
  const auto it = targets.find(query.name);
  // The per-replica target does not depend on data: GetMetricSpec answers it even without any.
  if (query.metric == KedaMetric::kDesiredReplicas) {
    a.target = 1;
  } else {
    a.target =
        it != targets.end() ? it->second.target_concurrency : view.default_target_concurrency;
  }
  if (!view.fresh) {
    a.code = KedaAnswer::Code::kUnavailable;
    a.message =
        "lagscale has no fresh reports (" + view.not_fresh_reason + "); keep the current replicas";
    return a;
  }
  // Named before any pod mentioned it (ScaledObjects come before traffic): idle, value 0.
  if (it == targets.end() || !it->second.reported) return a;
  const ScalerTargetView& t = it->second;
  if (!t.available) {
    a.code = KedaAnswer::Code::kUnavailable;
    a.message = std::string(query.server ? "server" : "model") + " \"" + query.name +
                "\" has no settled data yet (reports since the last restart do not cover a "
                "window); keep the current replicas";
    return a;
  }
  a.active = t.active;
  switch (query.metric) {
    case KedaMetric::kDesiredReplicas:
      a.value = t.desired;
      break;
    case KedaMetric::kConcurrency:
      a.value = t.concurrency;
      break;
    case KedaMetric::kInflight:
      a.value = t.inflight;
      break;
  }
  return a;
}

}  // namespace lagscale::coordinator
