#pragma once

// The seam between the coordinator's aggregation and the scaling decisions. The same policy code
// runs in the coordinator (fed by real reports) and in lagscale-sim (fed by a queueing model on a
// virtual clock), so every policy is a function of a clock reading and the demand view.

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace lagscale::coordinator {

// Read-only view of one model's recent demand summed over every pod that hosts it.
// Implemented by the coordinator's aggregator and by the simulator.
class DemandView {
 public:
  virtual ~DemandView() = default;
  // Exact time-weighted average concurrency over the last `window_s` seconds, from busy-seconds
  // deltas (Little's law); over the data available if less than the window has been seen.
  virtual double AverageConcurrency(double window_s) const = 0;
  // Requests in flight right now: the sum of the pods' latest in-flight counts.
  virtual double Inflight() const = 0;
  // Arrivals per second averaged over the last `window_s` seconds.
  virtual double ArrivalRate(double window_s) const = 0;
  // Seconds since the last arrival on any pod; +infinity if none was ever seen.
  virtual double IdleSeconds() const = 0;
  // Completion (output) tokens per second averaged over the last `window_s` seconds, from the
  // answers' `usage` objects (LLM traffic); 0 for models whose answers carry no token counts.
  virtual double TokenRate(double window_s) const = 0;
  // False when data is missing, stale, or a pod restarted inside the windows: policies must hold
  // (never scale down on missing data).
  virtual bool Fresh() const = 0;
};

enum class PolicyKind { kTargetTracking, kLagThreshold };

// Target tracking's parameters (`policy: target-tracking`, the default).
struct TargetTrackingParams {
  double target_concurrency = 1.0;  // per replica
  // When > 0, size for completion tokens per second per replica instead of concurrency (LLM
  // models whose answers report `usage`): desired = ceil(token rate / this).
  double target_tokens_per_second = 0;
  double tolerance = 0.1;  // no change while within +-10 % of target
  double stable_window_s = 30;
  double panic_window_s = 2;
  double panic_threshold = 2.0;    // panic when short-window demand >= 2x current capacity
  double scale_down_delay_s = 60;  // stabilization: highest recommendation over this window
  double max_scale_down_rate = 2;  // desired >= current / rate
  // Flap damping: a scale-up that undoes a scale-down made less than flap_window_s earlier doubles
  // the scale-down delay (up to max_scale_down_delay_s), and so does load (of requests up to half
  // the panic window long) that returns to the held level after falling to half of it while the
  // delay held it; it relaxes back once load has been steady for max_scale_down_delay_s. Set
  // max_scale_down_delay_s <= scale_down_delay_s to disable.
  double flap_window_s = 300;
  // While panicking, also add the replicas that drain the queue above steady demand in this time.
  double backlog_drain_s = 2;
  // How long a new replica takes at least to become ready (0: unknown). A panic then also sizes
  // for the queue that will have built up by the time its first new replicas are ready.
  double startup_delay_s = 0;
  double max_scale_down_delay_s = 600;
  // Square-root staffing for small pools: the replicas' full capacity (taken as panic_threshold's
  // confirmation level, 1.5x the target by default) must hold the stable demand plus this many
  // Poisson standard deviations of its arrivals (the square root of the demand they make, once a
  // time per request is learned). A proportional target leaves too little headroom for the noise
  // of a few requests in flight; above ~12 per target unit the target asks for more anyway, and a
  // model the target sizes at one replica keeps it. Requests of seconds have their own headroom.
  // 0 disables.
  double poisson_headroom = 1.75;

  bool operator==(const TargetTrackingParams&) const = default;
};

// Lag threshold's parameters (`policy: lag-threshold`, Seldon Core 2 semantics).
struct LagThresholdParams {
  double lag_threshold = 30;     // in-flight per replica that triggers a scale-up
  double lag_window_s = 1;       // ... when it stays at or above the threshold this long
  double idle_window_s = 600;    // scale down after this long without a request
  bool lag_proportional = true;  // step to ceil(lag / threshold) at once instead of +1

  bool operator==(const LagThresholdParams&) const = default;
};

// Per-model policy configuration; YAML keys in camelCase (coordinator/config.example.yaml).
// `kind` picks the policy. Both parameter sets are always present and validated, whatever the
// kind: a model's settings overlay the defaults key by key, and the history the coordinator keeps
// covers every window either policy would read.
struct ModelPolicyConfig {
  PolicyKind kind = PolicyKind::kTargetTracking;
  // Read by both policies.
  int min_replicas = 1;
  int max_replicas = 10;
  double max_scale_up_rate = 10;  // desired <= current * rate (at least current + 1)
  // scheduled placement: memory one replica of this model needs on a server
  double memory_bytes = 0;
  TargetTrackingParams tracking;
  LagThresholdParams lag;

  // Equal configurations behave identically (a reload keeps the policy's state).
  bool operator==(const ModelPolicyConfig&) const = default;
};

enum class Direction { kHold, kUp, kDown };

struct Decision {
  int desired = 0;
  Direction direction = Direction::kHold;
  std::string reason;  // one line a person can read, e.g. "panic: 9.5 in flight > 2x 2 replicas"
};

struct ModelContext {
  double now_s = 0;          // the caller's monotonic clock, seconds
  int current_replicas = 0;  // what the target has now (or the last decision if unknown)
  const DemandView& demand;
};

// ModelPolicy: decides one model's replicas. Stateful (windows, stabilization history), one
// instance per model.
// Thread safety: not thread-safe; the coordinator calls it from its single decision loop.
class ModelPolicy {
 public:
  virtual ~ModelPolicy() = default;
  virtual Decision Decide(const ModelContext& context) = 0;
};

std::unique_ptr<ModelPolicy> MakeModelPolicy(const ModelPolicyConfig& config);

// How a server's replicas relate to its models' replicas (DESIGN.md "Server shapes").
enum class Placement { kAll, kScheduled, kOneToOne };

struct ServerPolicyConfig {
  Placement placement = Placement::kAll;
  int min_replicas = 1;
  int max_replicas = 10;
  double capacity_bytes = 0;  // memory one server replica offers to models (scheduled placement)
  double drain_delay_s = 30;  // scale down only after the smaller size has been enough this long

  // Equal configurations behave identically (a reload keeps the sizer's state).
  bool operator==(const ServerPolicyConfig&) const = default;
};

struct ServerModelDemand {
  std::string model;
  int desired_replicas = 0;
  double memory_bytes = 0;
};

struct ServerContext {
  double now_s = 0;
  int current_replicas = 0;
  std::vector<ServerModelDemand> models;  // the models this server hosts, with their decisions
  bool fresh = true;                      // false: hold, never scale down
};

// ServerSizer: decides one server's replicas from its models' decisions. Stateful (drain delay).
// Thread safety: not thread-safe; one instance per server, called from the decision loop.
class ServerSizer {
 public:
  virtual ~ServerSizer() = default;
  virtual Decision Decide(const ServerContext& context) = 0;
};

std::unique_ptr<ServerSizer> MakeServerSizer(const ServerPolicyConfig& config);

}  // namespace lagscale::coordinator
