#pragma once

// Aggregator: turns the sidecars' cumulative per-(pod, model) counters into per-model demand.
// Each report is applied as deltas against the last report applied from the same pod incarnation;
// duplicates and out-of-order reports are ignored (cumulative counters make the next report carry
// everything), a new incarnation or counters going backwards re-baselines the pod, and a pod silent
// for longer than the TTL is expired. Reports are untrusted input: a report carrying absurd values
// (in-flight beyond kMaxInflight or negative, busy seconds negative or not finite, a counter
// jumping by more than kMaxCounterStep) is rejected whole; a new pod beyond Limits::max_pods is
// refused, and so is a model new to the coordinator beyond max_models or new to its pod beyond
// max_models_per_pod (the rest of that report is applied). Refusals are counted in refusals(). A
// model no pod hosts any more is forgotten once its history has aged out. Busy-seconds deltas are
// spread over the time the report covers into a per-model ring of time buckets, so the average
// concurrency over any window is the busy time inside it divided by its length (Little's law).
// Thread safety: not thread-safe. One thread (the coordinator's decision loop) owns it.
// Handles: a ModelDemand (from FindModel() or models()) is a stable handle. Apply() never frees
// one; it stays at the same address, and its numbers follow every later report, until Advance()
// forgets the model (no pod has hosted it for longer than the history). Advance() moves
// roster_generation() whenever it forgets one, so a holder that looks its handles up again when
// the generation moves never holds a dead one. Destroying the Aggregator ends every handle.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/policy.h"
#include "lagscale/v1/lag.pb.h"

namespace lagscale::coordinator {

class Aggregator;
struct PodState;
struct PodModel;

// One model's demand summed over the pods hosting it. Implements the policy seam.
class ModelDemand final : public DemandView {
 public:
  ModelDemand(const Aggregator& owner, std::string name, int64_t bucket_ns, size_t buckets);
  double AverageConcurrency(double window_s) const override;
  double Inflight() const override { return static_cast<double>(inflight_); }
  double ArrivalRate(double window_s) const override;
  double IdleSeconds() const override;
  double TokenRate(double window_s) const override;
  bool Fresh() const override;

  double CompletionRate(double window_s) const;
  double PromptTokenRate(double window_s) const;
  // Time to first byte of the answers (OpenAI-compatible requests) that came in the last
  // `window_s` seconds (at most kFirstByteHistory_s), summed over the hosting pods' histograms:
  // how many, and the q-quantile interpolated within its bucket as Prometheus'
  // histogram_quantile() does; nullopt without observations.
  static constexpr double kFirstByteHistory_s = 60;
  uint64_t FirstByteCount(double window_s) const;
  // True once the model's answers carried tokens or a first-byte time (LLM traffic).
  bool llm() const { return llm_; }
  std::optional<double> FirstByteQuantile(double q, double window_s) const;
  // Seconds since the newest data point from any pod; +infinity without data.
  double DataAgeSeconds() const;
  const std::string& name() const { return name_; }
  const std::string& server() const { return server_; }
  size_t hosting_pods() const { return hosts_.size(); }
  // The hosting pods' names, sorted. Built again only after the pods changed, and shared: every
  // /status snapshot holds the same list until then.
  std::shared_ptr<const std::vector<std::string>> HostingPods() const;
  // Sums of the hosting pods' latest cumulative counters (each since its sidecar started): what
  // the sidecars' own ledgers say, so they can be compared for drift.
  uint64_t ArrivalsTotal() const;
  uint64_t CompletionsTotal() const;
  uint64_t PromptTokensTotal() const;
  uint64_t CompletionTokensTotal() const;
  // Asks the CPU for what the next decision reads: the hosting pods' list and the ring buckets
  // where the windows asked so far start and end. The decision loop calls it a few models ahead
  // (Engine::DecideModels), so those cache misses overlap instead of coming one after the other.
  void Prefetch() const;
  // How long after a restart or expiry the data counts as disturbed (Fresh() false).
  void set_hold_seconds(double s) {
    hold_ns_ = static_cast<int64_t>(s * 1e9);
    cached_at_ = 0;
  }

  // Updates, made by the owning Aggregator as it applies reports and expires pods.
  enum Field { kBusy = 0, kArrivals, kCompletions, kPromptTokens, kCompletionTokens, kFieldCount };
  using Deltas = std::array<double, kFieldCount>;
  // Adds a delta covering [t0, t1] (coordinator monotonic ns), spread evenly over that interval.
  void Spread(int64_t t0, int64_t t1, const Deltas& deltas);
  // Adds per-bucket first-byte counts that arrived at `now_ns` from a pod whose histogram has
  // `bounds`; a pod whose bounds differ from the model's first are not merged (a version skew).
  void AddFirstBytes(int64_t now_ns, const std::vector<double>& bounds,
                     const std::vector<uint64_t>& counts);
  // A pod of `server` starts hosting the model; `pm` stays registered until RemoveHost(pm).
  void AddHost(PodModel& pm, const std::string& server);
  // The pod of `pm` stops hosting the model at `now_ns`; `disruption`: by a restart or expiry.
  void RemoveHost(const PodModel& pm, int64_t now_ns, bool disruption);
  // A pod's in-flight count moved by `inflight_delta`; its newest request came at the given time.
  void Observe(int64_t inflight_delta, int64_t last_request_unix_ms);
  // True when no pod has hosted the model for longer than `history_ns` before `now_ns`.
  bool Forgettable(int64_t now_ns, int64_t history_ns) const;

 private:
  // The ring keeps running totals per field at each bucket's end, so a window sum costs two edge
  // buckets and one subtraction whatever its length. A decision cycle reads a few buckets of every
  // model, far apart in memory, so a bucket is one cache line: the fields every model has sit in
  // the ring, and the token fields, which only LLM traffic fills, in a second ring of the same
  // slots, allocated at the first token.
  static constexpr int kRingFields = kPromptTokens;  // busy, arrivals, completions
  static constexpr int kTokenFields = kFieldCount - kRingFields;
  double Rate(double window_s, Field field) const;
  // First-byte counts per histogram bucket over the last `window_s` seconds.
  std::vector<uint64_t> FirstByteWindow(double window_s) const;
  // Sums `field` over [from, to], counting partial buckets pro rata.
  double Sum(int64_t from, int64_t to, Field field) const;
  // Makes buckets up to number k exist (empty, carrying the running totals forward).
  void Extend(int64_t k);
  // Data of bucket k inside [from, to], pro rata over the part of the bucket the data covers.
  double Partial(int64_t k, int64_t from, int64_t to, Field field) const;
  // Running total of `field` up to the end of bucket k.
  double TotalThrough(int64_t k, Field field) const;
  size_t Slot(int64_t k) const { return static_cast<size_t>(k) & (capacity_ - 1); }
  // The window [start, end] the data fully covers, ending where every hosting pod has reported.
  bool Window(double window_s, int64_t& start, int64_t& end) const;

  const Aggregator& owner_;
  std::string name_;
  std::string server_;
  int64_t bucket_ns_;
  struct alignas(64) Bucket {
    int64_t index = -1;  // absolute bucket number (time / width); -1 = empty
    // The part of the bucket the data covers, in ns from the bucket's start (a bucket is at most
    // Aggregator::kMaxBucketNs wide); lo == hi: no data.
    uint32_t lo = 0, hi = 0;
    std::array<double, kRingFields> values{};
    std::array<double, kRingFields> totals{};  // running totals through the end of this bucket
  };
  static_assert(sizeof(Bucket) == 64);
  struct TokenBucket {
    std::array<double, kTokenFields> values{};
    std::array<double, kTokenFields> totals{};
  };
  // Bucket data of `field` in ring slot `slot`: a value or a running total.
  double ValueAt(size_t slot, Field field) const;
  double TotalAt(size_t slot, Field field) const;
  // First-byte counts per histogram bucket, summed per slot of a few seconds; kept only for
  // models that have seen OpenAI-compatible requests.
  struct FirstByteSlot {
    int64_t index = -1;
    std::vector<uint64_t> counts;
  };
  bool llm_ = false;
  std::vector<double> first_byte_bounds_;
  std::vector<FirstByteSlot> first_byte_slots_;
  // Allocated at the first non-zero delta: a model that only ever reports zeros (idle, or a name
  // nobody sends traffic to) costs no ring at all.
  std::vector<Bucket> ring_;
  std::vector<TokenBucket> tokens_;  // empty until the first token; then ring_'s slots
  size_t capacity_;        // ring size once allocated: a power of two, so a slot is a mask away
  int64_t newest_k_ = -1;  // highest bucket number that exists
  std::vector<PodModel*> hosts_;
  mutable std::shared_ptr<const std::vector<std::string>> hosting_pods_;  // null: build again
  int64_t inflight_ = 0;
  int64_t last_request_unix_ms_ = 0;
  int64_t first_data_ns_ = -1;  // start of the earliest delta; -1 = none yet
  int64_t newest_data_ns_ = -1;
  int64_t last_disruption_ns_ = INT64_MIN / 2;
  int64_t orphaned_ns_ = -1;  // when the last hosting pod went away; -1 while hosted
  int64_t hold_ns_ = 30'000'000'000;
  // Fresh() and the window end walk every hosting pod; policies ask several times per decision
  // cycle, so both are kept until the aggregator changes (its generation moves).
  mutable uint64_t cached_at_ = 0;
  mutable bool cached_fresh_ = false;
  mutable int64_t cached_end_ns_ = 0;
  // The window lengths asked for since the last Prefetch() and before it, so that a cycle can
  // fetch the start bucket of every window at once: they lie far apart in memory, and read one
  // after the other, each was a cache miss of its own. Some lengths follow a learned time per
  // request, so the set is the last cycle's, not every length ever asked.
  struct WindowSet {
    static constexpr size_t kMax = 8;
    std::array<int64_t, kMax> ns{};
    size_t size = 0;
    void Add(int64_t window_ns);
  };
  mutable WindowSet asked_, prefetched_;
  void Refresh() const;
  void PrefetchWindows(int64_t end) const;
};

struct PodView {
  std::string server, pod;
  uint64_t incarnation = 0, sequence = 0;
  double report_age_s = 0;
  int64_t inflight = 0;
  size_t models = 0;
};

class Aggregator {
 public:
  struct Options {
    double ttl_s = 10;
    double history_s = 60;  // the longest window anyone asks for
    double bucket_s = 0.25;  // 1 ms to kMaxBucketNs
  };
  static constexpr int64_t kMaxBucketNs = 4'000'000'000;  // a bucket's offsets fit 32 bits
  // Caps on what untrusted reporters can make the coordinator hold in memory.
  using Limits = LimitsConfig;
  // Everything refused so far; `last` says what and why, for logs and /status.
  struct Refusals {
    uint64_t models = 0;  // model entries skipped by max_models or max_models_per_pod
    uint64_t pods = 0;    // reports of new pods beyond max_pods
    uint64_t values = 0;  // reports rejected for absurd values or names
    std::string last;
  };
  static constexpr int64_t kMaxInflight = int64_t{1} << 20;
  static constexpr uint64_t kMaxCounterStep = uint64_t{1} << 32;
  enum class Outcome {
    kApplied,
    kBaseline,
    kRestart,
    kDuplicate,
    kOutOfOrder,
    kInvalid,
    kRefused,   // a new pod beyond max_pods
    kRejected,  // absurd values
  };

  explicit Aggregator(Options options);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // Applies one report received at `now_ns` (coordinator monotonic) / `now_unix_ms`.
  Outcome Apply(const v1::PodReport& report, int64_t now_ns, int64_t now_unix_ms);
  // Moves the clock the views read and expires pods silent for longer than the TTL.
  // Returns the number of pods expired.
  int Advance(int64_t now_ns, int64_t now_unix_ms);
  // Changes TTL (history and bucket width stay; they size memory already allocated).
  void set_ttl_seconds(double s) { options_.ttl_s = s; }
  // Applies to what arrives from now on; nothing already tracked is dropped.
  void set_limits(const Limits& limits) { limits_ = limits; }
  const Limits& limits() const { return limits_; }
  const Refusals& refusals() const { return refusals_; }
  // Moves whenever a model is added or forgotten; a holder of ModelDemand handles looks them up
  // again when it moves (only a forgotten model's handle dies; see the header comment).
  uint64_t roster_generation() const { return roster_generation_; }

  // nullptr if the model never reported.
  ModelDemand* FindModel(const std::string& name);
  const std::unordered_map<std::string, std::unique_ptr<ModelDemand>>& models() const {
    return models_;
  }
  std::vector<PodView> Pods() const;
  std::unordered_map<std::string, int> PodsPerServer() const;
  size_t pod_count() const;
  int64_t now_ns() const { return now_ns_; }
  int64_t now_unix_ms() const { return now_unix_ms_; }
  double ttl_seconds() const { return options_.ttl_s; }
  // Moves on every change; ModelDemand's caches are valid for one value.
  uint64_t generation() const { return generation_; }

 private:
  ModelDemand* ModelFor(const std::string& name, const PodState& pod);
  void Detach(PodState& pod, bool disruption);
  // kRejected for absurd values, kRefused for a new pod over max_pods (both counted); nullopt when
  // the report may be applied.
  std::optional<Outcome> Admit(const v1::PodReport& report, bool new_pod);
  // The steps of Apply(): a new pod's state, whether the report continues the
  // pod's incarnation (nullopt: apply it; `restart` set when its counters went backwards), the
  // baseline of a new or restarted pod, and one model's counters.
  PodState& NewPod(const std::string& key, const v1::PodReport& report);
  // Continuity() also leaves in hosted_ the pod's state of each of the report's models (nullptr:
  // not hosted yet), for ApplyModel() to use rather than look them up again, and stamps them.
  std::optional<Outcome> Continuity(const v1::PodReport& report, PodState& pod,
                                    const std::string& key, bool& restart);
  // kRejected (counted) when the report lists a model twice; `stamped`: Continuity() ran to the end
  // (aggregator_limits.cc).
  std::optional<Outcome> ListedTwice(const v1::PodReport& report, bool stamped);
  void Rebase(PodState& pod, const v1::PodReport& report, int64_t now_ns, bool restart);
  // A report from the incarnation `pod` restarted away from: a straggler once (kOutOfOrder), a
  // second live sidecar with the same identity when it happens again (kRejected, counted and
  // named in refusals().last). A restarted sidecar never comes back (incarnations are random).
  Outcome Superseded(const v1::PodReport& report, PodState& pod, const std::string& key);
  // `hosted`: the pod's state of mc's model; nullptr: the pod does not host it yet.
  void ApplyModel(const v1::ModelCounters& mc, PodState& pod, PodModel* hosted, bool baseline,
                  int64_t t0, int64_t t1, int64_t now_ns);
  // Drops models no pod has hosted for longer than the history they could still be asked about.
  void Forget();
  // Adds the first-byte observations of `mc` since `pm` last saw them to pm's model, unless
  // `baseline` (the counts only become the base for the next delta).
  void ApplyFirstBytes(const v1::ModelCounters& mc, PodModel& pm, bool baseline, int64_t now_ns);

  Options options_;
  int64_t bucket_ns_;
  size_t buckets_;
  int64_t now_ns_ = 0;
  int64_t now_unix_ms_ = 0;
  Limits limits_;
  Refusals refusals_;
  uint64_t roster_generation_ = 0;
  uint64_t generation_ = 1;  // moves on every change; ModelDemand caches are valid for one value
  std::unordered_map<std::string, std::unique_ptr<ModelDemand>> models_;
  std::unordered_map<std::string, std::unique_ptr<PodState>> pods_;  // key: server + '/' + pod
  std::vector<PodModel*> hosted_;  // see Continuity(); reused from report to report
  int hosted_twice_ = -1;          // the index of a hosted model's second entry (-1: none)
};

}  // namespace lagscale::coordinator
