#include "lagscale/metrics/ledger.h"

#include <algorithm>
#include <numeric>

// ThreadSanitizer does not model standalone fences; under it the sequence lock uses the equivalent
// read-modify-write operations (Boehm, "Can seqlocks get along with programming language memory
// models?"), so TSan checks the same protocol.
#if defined(__SANITIZE_THREAD__)
#define LAGSCALE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LAGSCALE_TSAN 1
#endif
#endif
#ifndef LAGSCALE_TSAN
#define LAGSCALE_TSAN 0
#endif

namespace lagscale::metrics {

namespace {

// The histogram bounds in nanoseconds, for an integer comparison per request.
constexpr std::array<int64_t, kLatencyBucketBounds.size()> kBoundsNs = [] {
  std::array<int64_t, kLatencyBucketBounds.size()> ns{};
  for (size_t i = 0; i < ns.size(); ++i) ns[i] = static_cast<int64_t>(kLatencyBucketBounds[i] * 1e9);
  return ns;
}();

size_t BucketFor(int64_t duration_ns) {
  return std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), duration_ns) - kBoundsNs.begin();
}

// Single-writer increment: a plain load and store, no read-modify-write instruction needed.
template <typename T>
void Bump(std::atomic<T>& a, T delta) {
  a.store(a.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  static constexpr std::string_view kNames[kOutcomeCount] = {
      "success", "client_error", "server_error", "upstream_error", "client_abort", "timeout"};
  return kNames[static_cast<size_t>(outcome)];
}

Outcome OutcomeForHttpStatus(int status) {
  if (status < 400) return Outcome::kSuccess;
  if (status < 500) return Outcome::kClientError;
  return Outcome::kServerError;
}

uint64_t ModelStats::completions() const {
  return std::accumulate(outcomes.begin(), outcomes.end(), uint64_t{0});
}

uint64_t ModelStats::ttfb_count() const {
  return std::accumulate(ttfb_buckets.begin(), ttfb_buckets.end(), uint64_t{0});
}

void ModelStats::Add(const ModelStats& o) {
  arrivals += o.arrivals;
  for (size_t i = 0; i < kOutcomeCount; ++i) outcomes[i] += o.outcomes[i];
  busy_seconds += o.busy_seconds;
  duration_seconds_sum += o.duration_seconds_sum;
  for (size_t i = 0; i < kLatencyBucketCount; ++i) latency_buckets[i] += o.latency_buckets[i];
  last_request_unix_ns = std::max(last_request_unix_ns, o.last_request_unix_ns);
  for (size_t i = 0; i < kLatencyBucketCount; ++i) ttfb_buckets[i] += o.ttfb_buckets[i];
  ttfb_seconds_sum += o.ttfb_seconds_sum;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
}

// One model's counters in one shard. busy_base_ns is (sum of durations of completed requests) -
// (sum of start times of in-flight requests), so the integral of in-flight up to `now` is
// busy_base_ns + inflight * now: exact, with no sampling.
struct alignas(64) LedgerShard::Cell {
  std::atomic<uint32_t> seq{0};  // odd while the owner is writing
  std::atomic<uint64_t> arrivals{0};
  std::atomic<uint64_t> outcomes[kOutcomeCount] = {};
  std::atomic<int64_t> busy_base_ns{0};
  std::atomic<int64_t> duration_ns_sum{0};
  std::atomic<int64_t> last_arrival_ns{0};
  std::atomic<uint64_t> buckets[kLatencyBucketCount] = {};
  std::atomic<uint64_t> ttfb_buckets[kLatencyBucketCount] = {};
  std::atomic<int64_t> ttfb_ns_sum{0};
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> completion_tokens{0};

  // Writer side of the sequence lock: odd while the counters change.
  void BeginWrite() {
#if LAGSCALE_TSAN
    seq.fetch_add(1, std::memory_order_acq_rel);
#else
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
#endif
  }
  void EndWrite() { seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  // Reader side: true if no write overlapped the reads since `before` was loaded.
  bool Unchanged(uint32_t before) const {
#if LAGSCALE_TSAN
    return (before & 1) == 0 &&
           const_cast<std::atomic<uint32_t>&>(seq).fetch_add(0, std::memory_order_acq_rel) == before;
#else
    std::atomic_thread_fence(std::memory_order_acquire);
    return (before & 1) == 0 && seq.load(std::memory_order_relaxed) == before;
#endif
  }
};

LedgerShard::LedgerShard(const base::Clock& clock, size_t id_space)
    : clock_(clock), cells_(new Cell[id_space]) {}

RequestGuard LedgerShard::Begin(ModelId model) { return Begin(model, clock_.MonotonicNs()); }

RequestGuard LedgerShard::Begin(ModelId model, int64_t now) {
#if LAGSCALE_BENCH_NO_ACCOUNTING
  // Benchmark-only build (bench/run.sh): measures the proxy without its accounting.
  (void)model;
  (void)now;
  return RequestGuard();
#endif
  Cell& c = cells_[model];
  c.BeginWrite();
  Bump(c.arrivals, uint64_t{1});
  Bump(c.busy_base_ns, -now);
  c.last_arrival_ns.store(now, std::memory_order_relaxed);
  c.EndWrite();
  return RequestGuard(this, model, now);
}

void LedgerShard::End(ModelId model, int64_t start_ns, Outcome outcome, int64_t now) {
  const int64_t duration = std::max<int64_t>(0, now - start_ns);
  Cell& c = cells_[model];
  c.BeginWrite();
  Bump(c.outcomes[static_cast<size_t>(outcome)], uint64_t{1});
  // busy_base gains the request's duration and loses its start: net + end time.
  Bump(c.busy_base_ns, start_ns + duration);
  Bump(c.duration_ns_sum, duration);
  Bump(c.buckets[BucketFor(duration)], uint64_t{1});
  c.EndWrite();
}

void LedgerShard::FirstByte(ModelId model, int64_t since_ns) {
  const int64_t ttfb = std::max<int64_t>(0, clock_.MonotonicNs() - since_ns);
  Cell& c = cells_[model];
  c.BeginWrite();
  Bump(c.ttfb_buckets[BucketFor(ttfb)], uint64_t{1});
  Bump(c.ttfb_ns_sum, ttfb);
  c.EndWrite();
}

void LedgerShard::Tokens(ModelId model, uint64_t prompt, uint64_t completion) {
  Cell& c = cells_[model];
  c.BeginWrite();
  Bump(c.prompt_tokens, prompt);
  Bump(c.completion_tokens, completion);
  c.EndWrite();
}

void LedgerShard::Read(ModelId model, ModelStats& into, int64_t& busy_base_ns, int64_t& last_ns) const {
  const Cell& c = cells_[model];
  ModelStats s;
  int64_t base, dur, last, ttfb_sum;
  for (;;) {
    const uint32_t before = c.seq.load(std::memory_order_acquire);
    s.arrivals = c.arrivals.load(std::memory_order_relaxed);
    for (size_t i = 0; i < kOutcomeCount; ++i) s.outcomes[i] = c.outcomes[i].load(std::memory_order_relaxed);
    base = c.busy_base_ns.load(std::memory_order_relaxed);
    dur = c.duration_ns_sum.load(std::memory_order_relaxed);
    last = c.last_arrival_ns.load(std::memory_order_relaxed);
    for (size_t i = 0; i < kLatencyBucketCount; ++i) {
      s.latency_buckets[i] = c.buckets[i].load(std::memory_order_relaxed);
      s.ttfb_buckets[i] = c.ttfb_buckets[i].load(std::memory_order_relaxed);
    }
    ttfb_sum = c.ttfb_ns_sum.load(std::memory_order_relaxed);
    s.prompt_tokens = c.prompt_tokens.load(std::memory_order_relaxed);
    s.completion_tokens = c.completion_tokens.load(std::memory_order_relaxed);
    if (c.Unchanged(before)) break;
  }
  s.duration_seconds_sum = static_cast<double>(dur) * 1e-9;
  s.ttfb_seconds_sum = static_cast<double>(ttfb_sum) * 1e-9;
  into.Add(s);
  busy_base_ns += base;
  if (s.arrivals > 0) last_ns = std::max(last_ns, last);
}

RequestGuard& RequestGuard::operator=(RequestGuard&& other) noexcept {
  if (this != &other) {
    Finish();
    shard_ = std::exchange(other.shard_, nullptr);
    model_ = other.model_;
    outcome_ = other.outcome_;
    start_ns_ = other.start_ns_;
  }
  return *this;
}

void RequestGuard::RecordFirstByte(int64_t since_ns) {
  if (shard_ != nullptr) shard_->FirstByte(model_, since_ns);
}

void RequestGuard::AddTokens(uint64_t prompt, uint64_t completion) {
  if (shard_ != nullptr) shard_->Tokens(model_, prompt, completion);
}

void RequestGuard::End(Outcome outcome, int64_t now_ns) {
  outcome_ = outcome;
  Finish(now_ns);
}

void RequestGuard::Finish() {
  if (shard_ != nullptr) Finish(shard_->clock_.MonotonicNs());
}

void RequestGuard::Finish(int64_t now_ns) {
  if (shard_ != nullptr) std::exchange(shard_, nullptr)->End(model_, start_ns_, outcome_, now_ns);
}

Ledger::Ledger(ModelTable& table, size_t shards, const base::Clock& clock)
    : table_(table), clock_(clock), busy_floor_(table.id_space(), 0.0) {
  shards_.reserve(shards);
  for (size_t i = 0; i < shards; ++i) {
    shards_.emplace_back(new LedgerShard(clock, table.id_space()));
  }
}

Ledger::~Ledger() = default;

LedgerSnapshot Ledger::Snapshot() const {
  LedgerSnapshot snap;
  snap.max_models = table_.max_models();
  snap.overflowed_lookups = table_.overflowed_lookups();
  snap.invalid_names = table_.invalid_names();

  // Read every cell first and only then the clock: every event read carries a timestamp at or
  // before `now`, so no in-flight request contributes a negative span to the busy integral.
  struct Pending {
    ModelStats* stats;
    ModelId id;
    int64_t busy_base_ns = 0;
    int64_t last_ns = INT64_MIN;
  };
  std::vector<Pending> pending;
  const ModelId limit = table_.id_limit();
  snap.models.reserve(limit);
  pending.reserve(limit + 2);
  for (ModelId id = 0; id < limit; ++id) {
    if (!table_.Published(id)) continue;
    pending.push_back({&snap.models.emplace_back(std::string(table_.Name(id)), ModelStats{}).second, id});
  }
  pending.push_back({&snap.unattributed, table_.unattributed()});
  pending.push_back({&snap.overflow, table_.overflow()});
  for (Pending& p : pending) {
    for (const auto& shard : shards_) shard->Read(p.id, *p.stats, p.busy_base_ns, p.last_ns);
  }
  snap.monotonic_ns = clock_.MonotonicNs();
  snap.unix_ns = clock_.UnixNs();
  const int64_t to_unix = snap.unix_ns - snap.monotonic_ns;

  // A writer preempted between reading the clock and publishing an end can make one snapshot's
  // integral a few microseconds ahead of the next one's; busy time is exported as a Prometheus
  // counter, so it is held monotonic per model across snapshots.
  std::lock_guard lock(busy_mu_);
  for (Pending& p : pending) {
    ModelStats& s = *p.stats;
    double busy = static_cast<double>(p.busy_base_ns + s.inflight() * snap.monotonic_ns) * 1e-9;
    double& floor = busy_floor_[p.id];
    s.busy_seconds = std::max(busy, floor);
    floor = s.busy_seconds;
    s.last_request_unix_ns = p.last_ns == INT64_MIN ? 0 : p.last_ns + to_unix;
  }
  return snap;
}

}  // namespace lagscale::metrics
