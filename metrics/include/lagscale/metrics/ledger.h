#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lagscale/metrics/turn_clock.h"
#include "lagscale/metrics/model_table.h"

namespace lagscale::metrics {

// How a request ended. Every arrival ends with exactly one outcome.
enum class Outcome : uint8_t {
  kSuccess,        // response status 1xx-3xx; gRPC OK
  kClientError,    // 4xx; gRPC client-side codes
  kServerError,    // 5xx from the inference server; gRPC server-side codes
  kUpstreamError,  // inference server unreachable or broke the connection
  kClientAbort,    // the client went away before the response ended
  kTimeout,        // upstream response timeout; gRPC DEADLINE_EXCEEDED
};
inline constexpr size_t kOutcomeCount = 6;
// "success", "client_error", "server_error", "upstream_error", "client_abort", "timeout".
std::string_view OutcomeName(Outcome outcome);
// kSuccess for 1xx-3xx, kClientError for 4xx, kServerError otherwise.
Outcome OutcomeForHttpStatus(int status);

// Upper bounds of the request-duration histogram, in seconds (1 ms ... 60 s); a last, +Inf bucket
// follows them.
inline constexpr std::array<double, 15> kLatencyBucketBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
inline constexpr size_t kLatencyBucketCount = kLatencyBucketBounds.size() + 1;

// Counters of one model (or one special id), summed over shards.
struct ModelStats {
  uint64_t arrivals = 0;
  std::array<uint64_t, kOutcomeCount> outcomes{};
  // Integral of in-flight over time up to the snapshot, in seconds. Its difference between two
  // snapshots divided by their distance is the exact average concurrency (Little's law).
  double busy_seconds = 0;
  // Sum of the durations of completed requests, in seconds.
  double duration_seconds_sum = 0;
  // Completed requests per duration bucket (not cumulative); the last one is +Inf.
  std::array<uint64_t, kLatencyBucketCount> latency_buckets{};
  // Wall-clock time of the last arrival; 0 if none.
  int64_t last_request_unix_ns = 0;
  // Time to first byte of the answer (OpenAI-compatible requests only), per bucket of
  // kLatencyBucketBounds (not cumulative; the last one is +Inf), and the sum of those times.
  std::array<uint64_t, kLatencyBucketCount> ttfb_buckets{};
  double ttfb_seconds_sum = 0;
  // Tokens from the answers' usage objects.
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;

  uint64_t completions() const;
  uint64_t ttfb_count() const;
  int64_t inflight() const { return static_cast<int64_t>(arrivals - completions()); }
  uint64_t outcome(Outcome o) const { return outcomes[static_cast<size_t>(o)]; }
  void Add(const ModelStats& other);
};

struct LedgerSnapshot {
  int64_t monotonic_ns = 0;  // when taken, on the ledger clock
  int64_t unix_ns = 0;
  std::vector<std::pair<std::string, ModelStats>> models;  // tracked models, in id order
  ModelStats unattributed;  // requests that named no (valid) model
  ModelStats overflow;      // requests for models past the tracking cap
  size_t max_models = 0;
  uint64_t overflowed_lookups = 0;
  uint64_t invalid_names = 0;
};

class LedgerShard;

// RequestGuard: one request in flight. Move-only; ends the request exactly once, in End() or in
// its destructor, so no error path can leak an in-flight count or count a request twice.
// The outcome defaults to kClientAbort: a request dropped without a verdict is one nobody answered.
// Thread safety: must be used (and destroyed) on its shard's thread.
class RequestGuard {
 public:
  RequestGuard() = default;
  RequestGuard(RequestGuard&& other) noexcept { *this = std::move(other); }
  RequestGuard& operator=(RequestGuard&& other) noexcept;
  RequestGuard(const RequestGuard&) = delete;
  RequestGuard& operator=(const RequestGuard&) = delete;
  ~RequestGuard() { Finish(); }

  bool active() const { return shard_ != nullptr; }
  ModelId model() const { return model_; }
  // The outcome the request will end with unless changed again.
  void set_outcome(Outcome outcome) { outcome_ = outcome; }
  Outcome outcome() const { return outcome_; }
  // Ends the request now with `outcome`. No-op on an inactive guard.
  void End(Outcome outcome) {
    outcome_ = outcome;
    Finish();
  }
  // The same, at `now_ns` on the ledger clock (a reading the caller shares, see TurnClock).
  // REQUIRES: now_ns was read from the ledger's clock.
  void End(Outcome outcome, int64_t now_ns);
  // The first byte of the answer came, `since_ns` (ledger clock) after the request arrived.
  // No-op on an inactive guard.
  void RecordFirstByte(int64_t since_ns);
  // Tokens the answer's usage reported. No-op on an inactive guard.
  void AddTokens(uint64_t prompt, uint64_t completion);

 private:
  friend class LedgerShard;
  RequestGuard(LedgerShard* shard, ModelId model, int64_t start_ns)
      : shard_(shard), model_(model), start_ns_(start_ns) {}
  void Finish();
  void Finish(int64_t now_ns);

  LedgerShard* shard_ = nullptr;
  ModelId model_ = 0;
  Outcome outcome_ = Outcome::kClientAbort;
  int64_t start_ns_ = 0;
};

// LedgerShard: the counters one thread writes. Cells are cache-line aligned and written with
// relaxed atomics under a per-cell sequence counter, so a concurrent Snapshot() sees each model's
// counters consistently (in-flight never negative, busy time exact) without the writer waiting.
// Thread safety: Begin() and the guards it returns belong to one thread (the shard's owner);
// reading happens through Ledger::Snapshot() from any thread.
class LedgerShard {
 public:
  // Wait-free; no allocation. REQUIRES: model < table.id_space().
  RequestGuard Begin(ModelId model);
  // The same, at `now_ns`: for callers that share one clock reading among several events
  // (TurnClock): the clock read is most of what Begin() and End() cost.
  // REQUIRES: model < table.id_space(); now_ns was read from the ledger's clock.
  RequestGuard Begin(ModelId model, int64_t now_ns);
  // The ledger clock, for timestamps handed back to RequestGuard::RecordFirstByte().
  int64_t NowNs() const { return clock_.MonotonicNs(); }
  const base::Clock& clock() const { return clock_; }

 private:
  friend class Ledger;
  friend class RequestGuard;
  struct Cell;
  LedgerShard(const base::Clock& clock, size_t id_space);
  void End(ModelId model, int64_t start_ns, Outcome outcome, int64_t now_ns);
  void FirstByte(ModelId model, int64_t since_ns);
  void Tokens(ModelId model, uint64_t prompt, uint64_t completion);
  // Adds the cell's counters to `into`; accumulates its busy-time base (see Cell) and latest
  // arrival for the caller to finish once it has read the clock.
  void Read(ModelId model, ModelStats& into, int64_t& busy_base_ns, int64_t& last_ns) const;

  const base::Clock& clock_;
  std::unique_ptr<Cell[]> cells_;
};

// Ledger: per-model arrivals, completions by outcome, in-flight, busy time and latency, sharded per
// I/O thread.
// Thread safety: shard(i) is for thread i only; Snapshot() may run concurrently from any thread
// (it takes a mutex of its own, never one a writer waits on).
class Ledger {
 public:
  Ledger(ModelTable& table, size_t shards, const base::Clock& clock = base::SystemClock::Get());
  ~Ledger();

  ModelTable& table() { return table_; }
  const base::Clock& clock() const { return clock_; }
  size_t shard_count() const { return shards_.size(); }
  LedgerShard& shard(size_t i) { return *shards_[i]; }

  LedgerSnapshot Snapshot() const;

 private:
  ModelTable& table_;
  const base::Clock& clock_;
  std::vector<std::unique_ptr<LedgerShard>> shards_;
  mutable std::mutex busy_mu_;
  mutable std::vector<double> busy_floor_;  // guarded by busy_mu_: last busy_seconds per id
};

}  // namespace lagscale::metrics
