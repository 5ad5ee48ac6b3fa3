#pragma once

// Engine: the coordinator's single-writer loop. gRPC threads hand it reports through a lock-free
// queue; its own thread applies them to the Aggregator, runs every model's ModelPolicy and every
// server's ServerSizer each decisionInterval, hands changed decisions to the ActuationWorker and
// publishes an immutable StatusSnapshot. Model state is touched by that one thread only, so it
// needs no lock.
// Thread safety: Enqueue(), Reload(), status() and ready() may be called from any thread.
// Start()/Stop() from the owning thread. DecideNow()/DrainReports() are for tests and
// benchmarks that drive the loop by hand; never call them while Start()ed.

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/aggregator.h"
#include "lagscale/coordinator/clock.h"
#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/leader_election.h"
#include "lagscale/coordinator/status.h"

namespace lagscale::coordinator {

struct EngineOptions {
  std::shared_ptr<const Config> config;
  const Clock* clock = nullptr;         // nullptr: the system clock
  ActuationWorker* actuator = nullptr;  // nullptr: decisions are only shown
  // Reads Seldon Model/Server bounds; may be the actuator. nullptr: no reads.
  ActuationWorker* reader = nullptr;
  CoordinatorMetrics* metrics = nullptr;
  // Only the leader actuates; a new term holds scale-down until its picture is complete
  // (engine_leadership.cc). nullptr: this process always leads (a single replica).
  const Leadership* leadership = nullptr;
  std::function<std::unique_ptr<ModelPolicy>(const ModelPolicyConfig&)> model_policy =
      MakeModelPolicy;
  std::function<std::unique_ptr<ServerSizer>(const ServerPolicyConfig&)> server_sizer =
      MakeServerSizer;
  double status_interval_s = 0.25;  // how often /status is rebuilt at most
  double seldon_read_interval_s = 30;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Stamps the receive time and queues the report for the loop. Never blocks.
  void Enqueue(v1::PodReport&& report);
  // Swaps in a new configuration at the next cycle; aggregation and policy state are kept
  // (a model's policy is rebuilt only when its parameters changed).
  void Reload(std::shared_ptr<const Config> config);
  std::shared_ptr<const StatusSnapshot> status() const;
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // True when this process may actuate and take reports (always without leader election).
  bool Leading() const;

  void Start();
  void Stop();

  // Manual driving (tests, benchmarks).
  size_t DrainReports();
  void DecideNow();
  void PublishStatus();
  Aggregator& aggregator() { return aggregator_; }

 private:
  struct Received {
    v1::PodReport report;
    int64_t recv_ns = 0;
    int64_t recv_unix_ms = 0;
  };
  struct ModelEntry;
  struct ServerEntry;

  void Run();
  void ApplyReceived(const Received& r);
  void ApplyConfig(std::shared_ptr<const Config> config);
  void AbsorbResults();
  ModelEntry& Model(const std::string& name);
  ServerEntry& Server(const std::string& name);
  void Record(TargetKind kind, const std::string& name, const std::string& server,
              const std::optional<ScaleTarget>& target, int from, int to, const std::string& reason,
              int& submitted, std::optional<DecisionRecord>& last);
  std::optional<ScaleTarget> SeldonTarget(TargetKind kind, const std::string& name) const;
  // Leader election (engine_leadership.cc): a new term forgets what the last one knew about the
  // targets and holds scale-down for HandOverSeconds().
  void FollowLeadership(int64_t now_ns);
  double HandOverSeconds() const;
  void HoldForHandOver(Decision& d, int current, bool replicas_unread) const;
  bool ReplicasUnread(const std::optional<ScaleTarget>& target, int observed) const;
  int64_t NowNs() const;
  int64_t NowUnixMs() const;

  EngineOptions options_;
  std::shared_ptr<const Config> config_;
  Aggregator aggregator_;
  moodycamel::BlockingConcurrentQueue<Received> reports_;
  moodycamel::ConcurrentQueue<std::shared_ptr<const Config>> reloads_;
  std::unordered_map<std::string, std::unique_ptr<ModelEntry>> models_;
  std::unordered_map<std::string, std::unique_ptr<ServerEntry>> servers_;
  std::deque<DecisionRecord> recent_;
  ActuatorHealth health_;
  uint64_t received_ = 0, applied_ = 0, ignored_ = 0, restarts_ = 0, expired_ = 0;
  int64_t last_status_ns_ = INT64_MIN / 2;
  const Config* roster_config_ = nullptr;  // the config and model count the entries reflect
  size_t roster_models_ = 0;
  int64_t last_seldon_read_ns_ = INT64_MIN / 2;
  uint64_t term_ = 0;                           // the leadership term the entries belong to
  int64_t hand_over_until_ns_ = INT64_MIN / 2;  // no scale-down before this

  mutable std::mutex status_mu_;
  std::shared_ptr<const StatusSnapshot> status_;  // guarded by status_mu_ (the pointer only)

  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace lagscale::coordinator
