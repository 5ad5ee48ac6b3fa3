#pragma once

// ScalerView: what KEDA's external scaler may tell about each model and server, built by the
// Engine's loop after every batch of reports and every decision (at least every 50 ms) and
// published as an immutable value. ScalerViewHub carries the newest view from the loop to the
// gRPC threads, wakes StreamIsActive pushers when any target's activity changed, and remembers
// what KEDA asked and was told (shown on /status).
// Thread safety: ScalerView is immutable once published; every ScalerViewHub method may be called
// from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lagscale::coordinator {

// One model or server as KEDA sees it.
struct ScalerTargetView {
  bool keda = false;       // configured `actuator: keda`
  bool reported = false;   // a live pod reports it (otherwise KEDA is told idle, value 0)
  bool available = false;  // its numbers rest on data (false: just restarted, not settled yet)
  int desired = 0;         // the coordinator's desired replicas (target tracking, packing, bounds)
  double concurrency = 0;  // exact time-weighted average over the policy's stable window
  double target_concurrency = 1;  // per replica
  double inflight = 0;            // in flight now, summed over the reporting pods
  bool active = false;            // in flight, or an arrival within the idle window
};

struct ScalerView {
  // True while at least one pod has reported twice since the coordinator started and its latest
  // report is younger than reportTTL. Without it every answer is UNAVAILABLE.
  bool fresh = false;
  std::string not_fresh_reason;
  double default_target_concurrency = 1;
  std::unordered_map<std::string, ScalerTargetView> models, servers;
  int64_t time_unix_ms = 0;
};

// One answer given to KEDA.
struct KedaRead {
  std::string kind, name;     // "model" | "server"
  std::string metric;         // "desiredReplicas" | "concurrency" | "inflight"
  std::string call;           // "GetMetrics", "IsActive", "StreamIsActive", "GetMetricSpec"
  std::string scaled_object;  // namespace/name from the ScaledObjectRef
  std::string status;         // "ok" or the gRPC status code name
  double value = 0;           // the value (or 1/0 for activity) when status is "ok"
  int64_t time_unix_ms = 0;
};

class ScalerViewHub {
 public:
  ScalerViewHub();
  // Replaces the newest view; wakes waiters when `activity_changed`.
  void Publish(std::shared_ptr<const ScalerView> view, bool activity_changed);
  // Never null (an empty, not-fresh view before the first Publish).
  std::shared_ptr<const ScalerView> Latest() const;
  // Blocks until the activity generation differs from `seen`, Close(), or `timeout`; returns the
  // generation then.
  uint64_t WaitForActivityChange(uint64_t seen, std::chrono::milliseconds timeout);
  uint64_t activity_generation() const;
  void Close();
  bool closed() const;

  // Keeps the newest answer per (kind, name, metric, call); at most kMaxReads entries (the
  // oldest is dropped) so callers naming many targets cannot grow memory.
  void RecordRead(KedaRead read);
  std::vector<KedaRead> Reads() const;  // sorted by kind, name, metric, call
  static constexpr size_t kMaxReads = 1000;

 private:
  mutable std::mutex mu_;  // guards every field below
  std::condition_variable cv_;
  std::shared_ptr<const ScalerView> view_;
  uint64_t generation_ = 0;
  bool closed_ = false;
  std::map<std::string, KedaRead> reads_;
};

}  // namespace lagscale::coordinator
