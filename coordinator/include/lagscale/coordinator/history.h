#pragma once

// HistoryStore: the last 15 minutes of a bounded set of series (models, or servers) at one-second
// resolution, in fixed-size rings allocated once per tracked series, plus the decisions taken on
// each series in that time, so /status/{models,servers}/{name}/history can show what led to a
// decision after the fact.
//
// Memory is bounded by construction: at most `capacity` series are tracked, each a ring of
// kHistorySeconds samples of kSampleBytes (BytesPerSeries() in all, about 18 KB). When more
// series report than there are slots, the slots go to the busiest: every minute the store swaps
// untracked series whose load in that minute (the sum of their per-second in-flight samples, i.e.
// 60 x their average concurrency) exceeds that of the least loaded tracked ones.
//
// Thread safety: Write() and AddDecision() are called by one thread (the decision loop); Read(),
// tracked() and ring_bytes() may run concurrently from any thread. One mutex guards the rings;
// Write() holds it once per second for one pass over the entries, a reader only while it copies one
// series.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lagscale/coordinator/status.h"

namespace lagscale::coordinator {

inline constexpr int kHistorySeconds = 15 * 60;
inline constexpr size_t kHistoryDecisions = 64;  // per series; older ones are dropped

// One second of one series. NaN / kUnknownReplicas: no data for that second.
struct HistorySample {
  static constexpr uint16_t kUnknownReplicas = 0xFFFF;
  float inflight = NAN;
  float concurrency = NAN;  // average concurrency over that second
  float arrivals_per_s = NAN;
  float tokens_per_s = NAN;  // reserved for LLM models; NaN until reported
  uint16_t desired = kUnknownReplicas;
  uint16_t current = kUnknownReplicas;

  static uint16_t Replicas(int n) {
    return n < 0 ? kUnknownReplicas : static_cast<uint16_t>(std::min(n, 0xFFFE));
  }
};
inline constexpr size_t kSampleBytes = sizeof(HistorySample);

// The writer's handle on one series (kept in the decision loop's per-model state): which slot it
// holds, if any, and its load this minute (sum of its in-flight samples). Owned by the caller; must
// outlive the store's use of it (the loop's entries are never freed).
struct HistoryTicket {
  int slot = -1;
  double minute_load = 0;
};

// A consistent copy of one series: samples oldest first, the newest at end_unix_s.
struct HistoryCopy {
  int64_t end_unix_s = 0;
  std::vector<HistorySample> samples;
  std::vector<DecisionRecord> decisions;  // oldest first, within the samples' time range
};

class HistoryStore {
 public:
  struct Entry {
    const std::string* name;
    HistoryTicket* ticket;
    HistorySample sample;
    // The series' latest decision: marked when the series gets its slot in this second, since
    // it was decided before the slot existed. May be null.
    const DecisionRecord* latest_decision = nullptr;
  };

  explicit HistoryStore(size_t capacity);
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  static constexpr size_t BytesPerSeries() { return kHistorySeconds * kSampleBytes; }
  size_t capacity() const { return capacity_; }

  // Records second `unix_s` of every entry; seconds skipped since a series' last write are stored
  // as unknown. Assigns free slots, and at each new minute hands slots to busier series.
  // REQUIRES: called from the single writer thread; unix_s non-decreasing between calls.
  void Write(int64_t unix_s, std::vector<Entry>& entries);
  // Marks a decision on `name`'s series (ignored if the series is not tracked).
  void AddDecision(const std::string& name, const DecisionRecord& decision);

  // The last `seconds` (1..kHistorySeconds) of `name`; nullopt if the series is not tracked.
  std::optional<HistoryCopy> Read(const std::string& name, int seconds) const;
  size_t tracked() const;
  // Bytes held by the rings now (allocated lazily, never more than capacity x BytesPerSeries()).
  size_t ring_bytes() const;

 private:
  struct Series {
    std::string name;
    HistoryTicket* owner = nullptr;
    int64_t first_s = 0, last_s = 0;
    std::unique_ptr<HistorySample[]> ring;
    std::deque<DecisionRecord> decisions;
  };
  void Assign(int slot, Entry& e, int64_t unix_s);              // REQUIRES: mu_ held
  void Rebalance(std::vector<Entry>& entries, int64_t unix_s);  // REQUIRES: mu_ held
  static void Put(Series& s, int64_t unix_s, const HistorySample& sample);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Series> slots_;                   // guarded by mu_; grows up to capacity_
  std::unordered_map<std::string, int> index_;  // guarded by mu_: name -> slot
  int64_t minute_ = INT64_MIN;                  // writer only: the minute being scored
};

}  // namespace lagscale::coordinator
