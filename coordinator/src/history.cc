// Fixed-size per-series rings of one-second samples. See history.h.
#include "lagscale/coordinator/history.h"

#include <algorithm>

namespace lagscale::coordinator {
namespace {

size_t RingIndex(int64_t unix_s) {
  const int64_t n = kHistorySeconds;
  return static_cast<size_t>(((unix_s % n) + n) % n);
}

}  // namespace

HistoryStore::HistoryStore(size_t capacity) : capacity_(capacity) { slots_.reserve(capacity); }

void HistoryStore::Put(Series& s, int64_t unix_s, const HistorySample& sample) {
  if (unix_s <= s.last_s) return;  // one sample per second; a clock step back waits
  // Seconds nobody wrote (a stalled loop) read as unknown, not as the previous ring lap.
  const int64_t gap = std::min<int64_t>(unix_s - s.last_s - 1, kHistorySeconds);
  for (int64_t t = unix_s - gap; t < unix_s; ++t) s.ring[RingIndex(t)] = HistorySample{};
  s.ring[RingIndex(unix_s)] = sample;
  s.last_s = unix_s;
}

void HistoryStore::Assign(int slot, Entry& e, int64_t unix_s) {
  Series& s = slots_[static_cast<size_t>(slot)];
  if (s.owner) {
    s.owner->slot = -1;
    index_.erase(s.name);
  }
  if (!s.ring) s.ring = std::make_unique<HistorySample[]>(kHistorySeconds);
  s.name = *e.name;
  s.owner = e.ticket;
  s.first_s = unix_s;
  s.last_s = unix_s - 1;
  s.decisions.clear();
  if (e.latest_decision && e.latest_decision->time_unix_ms / 1000 >= unix_s - 1)
    s.decisions.push_back(*e.latest_decision);
  e.ticket->slot = slot;
  index_[s.name] = slot;
}

// Hands the slots of the least loaded tracked series to busier untracked ones. A newcomer must beat
// the slot holder's load of the minute strictly, so equally busy series do not swap back and
// forth (a tracked series keeps its history).
void HistoryStore::Rebalance(std::vector<Entry>& entries, int64_t unix_s) {
  std::vector<Entry*> waiting;
  std::vector<int> held;
  for (Entry& e : entries) {
    if (e.ticket->slot < 0 && e.ticket->minute_load > 0) waiting.push_back(&e);
  }
  if (!waiting.empty()) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].owner) held.push_back(static_cast<int>(i));
    }
    std::sort(waiting.begin(), waiting.end(), [](const Entry* a, const Entry* b) {
      return a->ticket->minute_load > b->ticket->minute_load;
    });
    auto score = [this](int slot) { return slots_[static_cast<size_t>(slot)].owner->minute_load; };
    std::sort(held.begin(), held.end(), [&](int a, int b) { return score(a) < score(b); });
    for (size_t i = 0; i < waiting.size() && i < held.size(); ++i) {
      if (waiting[i]->ticket->minute_load <= score(held[i])) break;
      Assign(held[i], *waiting[i], unix_s);
    }
  }
  for (Entry& e : entries) e.ticket->minute_load = 0;
}

void HistoryStore::Write(int64_t unix_s, std::vector<Entry>& entries) {
  std::lock_guard lock(mu_);
  const int64_t minute = unix_s / 60;
  if (minute != minute_) {
    if (minute_ != INT64_MIN) Rebalance(entries, unix_s);
    minute_ = minute;
  }
  for (Entry& e : entries) {
    if (std::isfinite(e.sample.inflight)) e.ticket->minute_load += e.sample.inflight;
    if (e.ticket->slot < 0) {
      if (slots_.size() >= capacity_) continue;
      slots_.emplace_back();
      Assign(static_cast<int>(slots_.size() - 1), e, unix_s);
    }
    Put(slots_[static_cast<size_t>(e.ticket->slot)], unix_s, e.sample);
  }
}

void HistoryStore::AddDecision(const std::string& name, const DecisionRecord& decision) {
  std::lock_guard lock(mu_);
  const auto it = index_.find(name);
  if (it == index_.end()) return;
  auto& decisions = slots_[static_cast<size_t>(it->second)].decisions;
  decisions.push_back(decision);
  if (decisions.size() > kHistoryDecisions) decisions.pop_front();
}

std::optional<HistoryCopy> HistoryStore::Read(const std::string& name, int seconds) const {
  std::lock_guard lock(mu_);
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  const Series& s = slots_[static_cast<size_t>(it->second)];
  HistoryCopy out;
  out.end_unix_s = s.last_s;
  const int64_t want = std::clamp(seconds, 1, kHistorySeconds);
  const int64_t have = std::max<int64_t>(0, s.last_s - s.first_s + 1);
  const int64_t n = std::min(want, have);
  out.samples.reserve(static_cast<size_t>(n));
  for (int64_t t = s.last_s - n + 1; t <= s.last_s; ++t)
    out.samples.push_back(s.ring[RingIndex(t)]);
  const int64_t from_ms = (s.last_s - n + 1) * 1000;
  for (const auto& d : s.decisions) {
    if (d.time_unix_ms >= from_ms) out.decisions.push_back(d);
  }
  return out;
}

size_t HistoryStore::tracked() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

size_t HistoryStore::ring_bytes() const {
  std::lock_guard lock(mu_);
  return slots_.size() * BytesPerSeries();
}

}  // namespace lagscale::coordinator
