#pragma once

// KedaScaler: KEDA's external-scaler gRPC service (externalscaler.ExternalScaler, proto/
// externalscaler/externalscaler.proto), served on the coordinator's gRPC port next to LagService.
// A ScaledObject's trigger metadata names a `model` or a `server` and a `metric`:
//   desiredReplicas (default)  the coordinator's own decision, target 1 (the HPA lands on it);
//   concurrency                exact time-weighted average concurrency, target targetConcurrency;
//   inflight                   requests in flight now, target targetConcurrency.
// Answers come from the newest ScalerView; without fresh reports every call is UNAVAILABLE (the
// HPA then keeps the current replicas), never a zero that only means "no data". StreamIsActive
// pushes the activity on every change (the loop rebuilds the view within ~10 ms of a report) and
// stays quiet otherwise; StreamMetricSpec is UNIMPLEMENTED (KEDA then polls GetMetricSpec).
// Thread safety: gRPC calls it from its threads; one pusher thread of its own serves the streams.
// Shutdown() from the owning thread before the gRPC server is shut down.

#include <map>
#include <memory>
#include <string>

#include "lagscale/coordinator/scaler_view.h"

namespace grpc {
class Service;
}

namespace lagscale::coordinator {

enum class KedaMetric { kDesiredReplicas, kConcurrency, kInflight };
const char* KedaMetricName(KedaMetric metric);

// What a ScaledObject asks about.
struct KedaQuery {
  bool server = false;  // `server: NAME` rather than `model: NAME`
  std::string name;
  KedaMetric metric = KedaMetric::kDesiredReplicas;
  // The metric name given to the HPA, e.g. "lagscale-model-iris-desiredreplicas".
  std::string MetricName() const;
};

// Reads `scalerMetadata`. Returns "" on success, else a message naming the key and the value.
std::string ParseKedaQuery(const std::map<std::string, std::string>& metadata, KedaQuery& query);

// The answer to one query from one view.
struct KedaAnswer {
  enum class Code { kOk, kUnavailable };
  Code code = Code::kOk;
  std::string message;  // why, when unavailable
  double value = 0;
  double target = 1;  // per replica
  bool active = false;
};
KedaAnswer AnswerKedaQuery(const ScalerView& view, const KedaQuery& query);

class KedaScaler {
 public:
  // REQUIRES: `hub` outlives this object.
  explicit KedaScaler(ScalerViewHub& hub);
  ~KedaScaler();  // Shutdown()
  KedaScaler(const KedaScaler&) = delete;
  KedaScaler& operator=(const KedaScaler&) = delete;

  // The gRPC service to register next to LagService.
  grpc::Service* service();
  // Ends every open StreamIsActive (UNAVAILABLE: KEDA reconnects) and stops the pusher thread.
  void Shutdown();

 private:
  friend class ActivityStream;  // one StreamIsActive call (keda_scaler.cc)
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lagscale::coordinator
