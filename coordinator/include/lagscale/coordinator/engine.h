#pragma once

// Engine: the coordinator's single-writer loop. gRPC threads hand it reports through a lock-free
// queue; its own thread applies them to the Aggregator, runs every model's ModelPolicy and every
// server's ServerSizer each decisionInterval, hands changed decisions to the ActuationWorker and
// publishes an immutable StatusSnapshot. Model state is touched by that one thread only, so it
// needs no lock.
// Thread safety: Enqueue(), Reload(), status() and ready() may be called from any thread; a
// Producer from one thread at a time.
// Start()/Stop() from the owning thread. DecideNow()/DrainReports() are for tests and
// benchmarks that drive the loop by hand; never call them while Start()ed.

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <google/protobuf/arena.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "lagscale/base/clock.h"
#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/aggregator.h"
#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/history.h"
#include "lagscale/coordinator/leader_election.h"
#include "lagscale/coordinator/scaler_view.h"
#include "lagscale/coordinator/status.h"

namespace lagscale::coordinator {

struct EngineOptions {
  std::shared_ptr<const Config> config;
  const base::Clock* clock = nullptr;   // nullptr: the system clock
  ActuationWorker* actuator = nullptr;  // nullptr: decisions are only shown
  // Reads Seldon Model/Server bounds; may be the actuator. nullptr: no reads.
  ActuationWorker* reader = nullptr;
  CoordinatorMetrics* metrics = nullptr;
  ScalerViewHub* scaler_view = nullptr;  // KEDA's external scaler reads it; nullptr: not built
  // Only the leader actuates; a new term holds scale-down until its picture is complete
  // (engine_leadership.cc). nullptr: this process always leads (a single replica).
  const Leadership* leadership = nullptr;
  std::function<std::unique_ptr<ModelPolicy>(const ModelPolicyConfig&)> model_policy =
      MakeModelPolicy;
  std::function<std::unique_ptr<ServerSizer>(const ServerPolicyConfig&)> server_sizer =
      MakeServerSizer;
  double status_interval_s = 0.25;  // how often /status is rebuilt at most
  double seldon_read_interval_s = 30;
  // A decision whose write failed for good is written again this often while it stands.
  double resubmit_failed_s = 30;
  // Series kept at 1 s for 15 minutes (HistoryStore::BytesPerSeries() each; docs/coordinator.md).
  size_t history_models = 1000;
  size_t history_servers = 200;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Stamps the receive time and queues the report for the loop. Never blocks. Returns false, and
  // drops the report, while the queue holds kMaxQueuedReportBytes (a flood the loop cannot keep
  // up with): counters are cumulative, so the pod's next report admitted carries what it had.
  static constexpr size_t kMaxQueuedReportBytes = size_t{16} << 20;
  bool Enqueue(v1::PodReport&& report);
  // One report stream's handle on that queue: its reports are applied in the order it queued
  // them, whichever threads queued them (gRPC runs a stream's callbacks on any of its threads, and
  // the queue keeps order per producer only). Use one Producer from one thread at a time.
  class Producer {
   public:
    explicit Producer(Engine& engine);
    // The message to read the stream's next report into. It lives on an arena of its own, so the
    // loop frees a report in a few blocks rather than part by part (a 1,000-model report has
    // thousands of parts). Each call starts a new arena; an unqueued previous one is freed.
    v1::PodReport* Next();
    // Queues what Next() returned, `wire_bytes` long as received; as Engine::Enqueue.
    bool EnqueueNext(size_t wire_bytes);
    bool Enqueue(v1::PodReport&& report);  // as Engine::Enqueue

   private:
    Engine& engine_;
    moodycamel::ProducerToken token_;
    std::unique_ptr<google::protobuf::Arena> arena_;
    v1::PodReport* next_ = nullptr;  // on arena_
  };
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
  // Applies queued reports until the queue is empty or the monotonic clock passes `until_ns`.
  size_t DrainReports(int64_t until_ns = INT64_MAX);
  void DecideNow();
  void PublishStatus();
  Aggregator& aggregator() { return aggregator_; }
  const HistoryStore& model_history() const { return model_history_; }
  const HistoryStore& server_history() const { return server_history_; }

 private:
  struct Received {
    std::unique_ptr<google::protobuf::Arena> arena;
    const v1::PodReport* report = nullptr;  // on arena
    size_t bytes = 0;
    int64_t recv_ns = 0;
    int64_t recv_unix_ms = 0;
  };
  struct ModelEntry;
  struct ServerEntry;
  // Stamps `report` (on `arena`, `bytes` long on the wire) and counts it against
  // kMaxQueuedReportBytes; nullopt when it does not fit.
  std::optional<Received> Admit(std::unique_ptr<google::protobuf::Arena> arena,
                                const v1::PodReport* report, size_t bytes);
  static std::unique_ptr<google::protobuf::Arena> NewReportArena();

  struct TargetEntry;  // what models and servers share (engine_state.h)

  void Run();
  void ApplyReceived(const Received& r);
  void ApplyConfig(std::shared_ptr<const Config> config);
  // Derives an entry's effective policy and target from the config and its Seldon bounds;
  // rebuilds the policy only when its parameters changed.
  void Configure(ModelEntry& e);
  void Configure(ServerEntry& e);

  // The steps of DecideNow(), in order.
  void ApplyReloads();
  void ExpirePods(int64_t now_ns);
  void AbsorbResults();
  void AbsorbReads(ActuationWorker& worker);
  void AbsorbRead(const ReadReport& read, bool replicas_read);
  void AbsorbActuation(const ActuationReport& report);
  void RequestReadsEvery(int64_t now_ns);
  void FollowRoster();
  void DecideModels(double now_s, bool sample_history);
  void DecideModel(ModelEntry& e, double now_s, bool sample_history);
  static void PrefetchEntry(const ModelEntry& e);
  static void PrefetchEntryObjects(const ModelEntry& e);
  void DecideServers(double now_s);
  // Holds the decision for a hand-over, stores it and records it when it changed.
  void Conclude(TargetEntry& e, const std::string& server, int current, Decision d);
  void PublishAfterDecision(int64_t now_ns, double took_s);
  // The parts of PublishStatus() (engine_status.cc).
  void FillStatusCounters(StatusSnapshot& s) const;
  ModelStatus ModelStatusOf(const ModelEntry& e) const;
  ServerStatus ServerStatusOf(const ServerEntry& e, const std::vector<std::string>& pods,
                              double inflight) const;

  // Re-points every model entry at the aggregator's demand; drops entries of models neither
  // configured nor tracked any more (engine_limits.cc).
  void RebuildRoster();
  // Counts new refusals on /metrics and logs them at most once every 10 s.
  void ReportRefusals();
  // The entry of a model or server, made (configured, its target read) on first use.
  ModelEntry& Model(const std::string& name);
  ServerEntry& Server(const std::string& name);
  template <typename Entry>
  Entry& EntryFor(std::unordered_map<std::string, std::unique_ptr<Entry>>& entries, TargetKind kind,
                  const std::string& name);
  TargetEntry* Find(const TargetKey& key);
  void RequestRead(const TargetEntry& e);
  // Logs a changed decision, keeps it for /status and history, and submits it when this process
  // actuates the target.
  void Record(TargetEntry& e, const std::string& server, int from, const Decision& d);
  void Submit(TargetEntry& e, const std::string& server, int from, const Decision& d,
              int64_t now_ms);
  std::optional<ScaleTarget> SeldonTarget(TargetKind kind, const std::string& name) const;
  // Leader election (engine_leadership.cc): a new term forgets what the last one knew about the
  // targets and holds scale-down for HandOverSeconds().
  void FollowLeadership(int64_t now_ns);
  bool WritesThisCycle() const;
  void ForgetTerm(TargetEntry& e);
  double HandOverSeconds() const;
  void HoldForHandOver(Decision& d, int current, bool replicas_unread) const;
  bool ReplicasUnread(const std::optional<ScaleTarget>& target, int observed) const;
  int64_t NowNs() const;
  int64_t NowUnixMs() const;
  // Builds and publishes the ScalerView (engine_scaler_view.cc); rate-limited unless `force`.
  void PublishScalerView(bool force);
  struct ScalerViewState;
  // Its steps: pods and freshness (returns in-flight requests per server), reported models,
  // configured models nobody reports, servers.
  std::unordered_map<std::string, double> ScanPods(ScalerViewState& st, ScalerView& view,
                                                   double lag_s) const;
  void AddReportedModels(ScalerViewState& st, ScalerView& view, double lag_s) const;
  void AddConfiguredModels(ScalerView& view) const;
  void AddServers(ScalerView& view,
                  const std::unordered_map<std::string, double>& server_inflight) const;
  // Once per wall-clock second, during the decision pass: one sample of the model (`current`
  // replicas as /status shows them), then WriteHistory() stores every model's and server's.
  void SampleModel(ModelEntry& e, int current);
  void WriteHistory(int64_t unix_s);

  EngineOptions options_;
  std::shared_ptr<const Config> config_;
  Aggregator aggregator_;
  moodycamel::BlockingConcurrentQueue<Received> reports_;
  moodycamel::ConcurrentQueue<std::shared_ptr<const Config>> reloads_;
  std::unordered_map<std::string, std::unique_ptr<ModelEntry>> models_;
  std::vector<ModelEntry*> model_order_;  // models_' entries, as DecideModels() walks them
  std::unordered_map<std::string, std::unique_ptr<ServerEntry>> servers_;
  std::deque<DecisionRecord> recent_;
  ActuatorHealth health_;
  uint64_t received_ = 0, applied_ = 0, ignored_ = 0, restarts_ = 0, expired_ = 0;
  int64_t last_status_ns_ = INT64_MIN / 2;
  const Config* roster_config_ = nullptr;  // the config and model count the entries reflect
  uint64_t roster_models_ = UINT64_MAX;    // the aggregator's roster generation reflected
  uint64_t refusals_seen_ = 0;             // sum of the three counts below
  Aggregator::Refusals refusals_logged_;   // counts already added to /metrics
  int64_t last_refusal_log_ns_ = INT64_MIN / 2;
  int64_t last_seldon_read_ns_ = INT64_MIN / 2;
  std::shared_ptr<ScalerViewState> scaler_state_;  // shared_ptr: complete only in its own file
  HistoryStore model_history_, server_history_;
  int64_t last_history_s_ = INT64_MIN;
  std::vector<HistoryStore::Entry> history_entries_;  // reused every second
  uint64_t term_ = 0;                                 // the leadership term the entries belong to
  bool cycle_leads_ = false;  // this decision cycle began leading, in term_ (WritesThisCycle())
  int64_t hand_over_until_ns_ = INT64_MIN / 2;        // no scale-down before this

  mutable std::mutex status_mu_;
  std::shared_ptr<const StatusSnapshot> status_;  // guarded by status_mu_ (the pointer only)

  std::atomic<size_t> queued_bytes_{0};  // wire size of the reports in reports_
  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace lagscale::coordinator
