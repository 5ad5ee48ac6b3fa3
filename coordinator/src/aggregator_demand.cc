// A model's demand: the time-bucketed ring its pods' report deltas are spread over, and the rates,
// totals and freshness policies read from it. See aggregator.h for the rules.
#include <algorithm>
#include <cmath>
#include <limits>

#include "aggregator_state.h"
#include "lagscale/coordinator/aggregator.h"

namespace lagscale::coordinator {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

ModelDemand::ModelDemand(const Aggregator& owner, std::string name, int64_t bucket_ns,
                         size_t buckets)
    : owner_(owner), name_(std::move(name)), bucket_ns_(bucket_ns), capacity_(buckets) {}

double ModelDemand::ValueAt(size_t slot, Field field) const {
  if (field < kRingFields) return ring_[slot].values[field];
  return tokens_.empty() ? 0 : tokens_[slot].values[field - kRingFields];
}

double ModelDemand::TotalAt(size_t slot, Field field) const {
  if (field < kRingFields) return ring_[slot].totals[field];
  return tokens_.empty() ? 0 : tokens_[slot].totals[field - kRingFields];
}

void ModelDemand::Extend(int64_t k) {
  if (ring_.empty()) ring_.resize(capacity_);
  const auto n = static_cast<int64_t>(capacity_);
  Bucket carry;
  TokenBucket token_carry;
  if (newest_k_ >= 0) {
    carry.totals = ring_[Slot(newest_k_)].totals;
    if (!tokens_.empty()) token_carry.totals = tokens_[Slot(newest_k_)].totals;
  }
  const int64_t first = newest_k_ < 0 || k - newest_k_ >= n ? k - n + 1 : newest_k_ + 1;
  for (int64_t j = std::max<int64_t>(first, 0); j <= k; ++j) {
    carry.index = j;
    ring_[Slot(j)] = carry;
    if (!tokens_.empty()) tokens_[Slot(j)] = token_carry;
  }
  newest_k_ = k;
}

void ModelDemand::Spread(int64_t t0, int64_t t1, const Deltas& deltas) {
  const int64_t span = t1 - t0;
  if (span <= 0) return;
  // Only the part of the interval the ring can still hold is kept, pro rata.
  const int64_t oldest =
      (owner_.now_ns() / bucket_ns_ - static_cast<int64_t>(capacity_) + 1) * bucket_ns_;
  const int64_t from = std::max(t0, oldest);
  // Zeros add nothing to any sum: only the data's time coverage moves, and no ring is needed.
  const bool zero = std::all_of(deltas.begin(), deltas.end(), [](double d) { return d == 0; });
  const bool tokens = deltas[kPromptTokens] != 0 || deltas[kCompletionTokens] != 0;
  for (int64_t k = from / bucket_ns_; !zero && k * bucket_ns_ < t1; ++k) {
    const int64_t base = k * bucket_ns_;
    const int64_t lo = std::max(from, base);
    const int64_t hi = std::min(t1, base + bucket_ns_);
    if (hi <= lo) continue;
    const double f = static_cast<double>(hi - lo) / static_cast<double>(span);
    if (k > newest_k_) Extend(k);
    // No ring yet (a bucket before time 0 never makes one), or a bucket older than the ring.
    if (ring_.empty()) continue;
    Bucket& b = ring_[Slot(k)];
    if (b.index != k) continue;
    const auto lo_in = static_cast<uint32_t>(lo - base);
    const auto hi_in = static_cast<uint32_t>(hi - base);
    if (b.hi <= b.lo) b.lo = lo_in, b.hi = hi_in;
    b.lo = std::min(b.lo, lo_in);
    b.hi = std::max(b.hi, hi_in);
    llm_ = llm_ || tokens;
    // Zeros in every slot are the token totals of a model that never had tokens.
    if (tokens && tokens_.empty()) tokens_.resize(capacity_);
    Deltas add = deltas;
    for (double& d : add) d *= f;
    for (int field = 0; field < kRingFields; ++field) b.values[field] += add[field];
    if (tokens) {
      for (int field = 0; field < kTokenFields; ++field) {
        tokens_[Slot(k)].values[field] += add[kRingFields + field];
      }
    }
    // Later buckets' running totals include this one (usually none or a few: reports arrive in
    // time order, so k is at or near the newest bucket).
    for (int64_t j = k; j <= newest_k_; ++j) {
      Bucket& later = ring_[Slot(j)];
      for (int field = 0; field < kRingFields; ++field) later.totals[field] += add[field];
      if (!tokens) continue;
      TokenBucket& later_tokens = tokens_[Slot(j)];
      for (int field = 0; field < kTokenFields; ++field) {
        later_tokens.totals[field] += add[kRingFields + field];
      }
    }
  }
  if (first_data_ns_ < 0 || t0 < first_data_ns_) first_data_ns_ = std::max(t0, oldest);
  newest_data_ns_ = std::max(newest_data_ns_, t1);
}

double ModelDemand::Partial(int64_t k, int64_t from, int64_t to, Field field) const {
  if (ring_.empty()) return 0;
  const Bucket& b = ring_[Slot(k)];
  if (b.index != k || b.hi <= b.lo) return 0;
  // The bucket's data is taken as spread evenly over the part it covers, so windows that start
  // or end where the data does (a report's snapshot) count exactly.
  const int64_t base = k * bucket_ns_;
  const int64_t lo = std::max(from, base + b.lo);
  const int64_t hi = std::min(to, base + b.hi);
  if (hi <= lo) return 0;
  return ValueAt(Slot(k), field) * static_cast<double>(hi - lo) / static_cast<double>(b.hi - b.lo);
}

double ModelDemand::TotalThrough(int64_t k, Field field) const {
  if (newest_k_ < 0) return 0;
  if (k >= newest_k_) return TotalAt(Slot(newest_k_), field);
  const int64_t oldest = newest_k_ - static_cast<int64_t>(capacity_) + 1;
  if (k < oldest) return TotalAt(Slot(oldest), field) - ValueAt(Slot(oldest), field);
  return TotalAt(Slot(k), field);
}

double ModelDemand::Sum(int64_t from, int64_t to, Field field) const {
  if (to <= from) return 0;
  const int64_t first = from / bucket_ns_;
  const int64_t last = (to - 1) / bucket_ns_;
  if (first == last) return Partial(first, from, to, field);
  const double inner = TotalThrough(last - 1, field) - TotalThrough(first, field);
  return std::max(0.0, Partial(first, from, to, field) + inner + Partial(last, from, to, field));
}

void ModelDemand::Refresh() const {
  if (cached_at_ == owner_.generation()) return;
  cached_at_ = owner_.generation();
  int64_t end = newest_data_ns_;
  bool fresh =
      !hosts_.empty() && first_data_ns_ >= 0 && owner_.now_ns() - last_disruption_ns_ >= hold_ns_;
  const int64_t ttl_ns = static_cast<int64_t>(owner_.ttl_seconds() * 1e9);
  for (const PodModel* h : hosts_) {
    end = std::min(end, h->pod->last_point_ns);
    // A pod that missed about three reports makes the newest windows incomplete.
    const int64_t late = std::clamp<int64_t>(3 * h->pod->interval_ns, 500'000'000, ttl_ns);
    if (owner_.now_ns() - h->pod->last_recv_ns > late) fresh = false;
  }
  cached_end_ns_ = end;
  cached_fresh_ = fresh;
  PrefetchWindows(end);
}

void ModelDemand::WindowSet::Add(int64_t window_ns) {
  const auto end = ns.begin() + size;
  if (size < kMax && std::find(ns.begin(), end, window_ns) == end) ns[size++] = window_ns;
}

void ModelDemand::Prefetch() const {
  prefetched_ = asked_;
  asked_.size = 0;
  if (!hosts_.empty()) __builtin_prefetch(hosts_.data());
  PrefetchWindows(newest_data_ns_);
}

void ModelDemand::PrefetchWindows(int64_t end) const {
  if (ring_.empty()) return;
  for (size_t i = 0; i < prefetched_.size; ++i) {
    const int64_t start = std::max<int64_t>(0, end - prefetched_.ns[i]);
    __builtin_prefetch(&ring_[Slot(start / bucket_ns_)]);
  }
  if (end > 0) __builtin_prefetch(&ring_[Slot((end - 1) / bucket_ns_)]);
}

bool ModelDemand::Window(double window_s, int64_t& start, int64_t& end) const {
  if (hosts_.empty() || first_data_ns_ < 0) return false;
  Refresh();
  end = cached_end_ns_;
  const int64_t oldest =
      (owner_.now_ns() / bucket_ns_ - static_cast<int64_t>(capacity_) + 1) * bucket_ns_;
  const auto window_ns = static_cast<int64_t>(window_s * 1e9);
  asked_.Add(window_ns);
  start = std::max({end - window_ns, first_data_ns_, oldest});
  return end > start;
}

double ModelDemand::Rate(double window_s, Field field) const {
  int64_t start = 0, end = 0;
  if (!Window(window_s, start, end)) return 0;
  return Sum(start, end, field) * 1e9 / static_cast<double>(end - start);
}

// Busy seconds per second is the average number in flight.
double ModelDemand::AverageConcurrency(double window_s) const { return Rate(window_s, kBusy); }
double ModelDemand::ArrivalRate(double window_s) const { return Rate(window_s, kArrivals); }
double ModelDemand::CompletionRate(double window_s) const { return Rate(window_s, kCompletions); }
double ModelDemand::TokenRate(double window_s) const { return Rate(window_s, kCompletionTokens); }
double ModelDemand::PromptTokenRate(double window_s) const { return Rate(window_s, kPromptTokens); }

double ModelDemand::IdleSeconds() const {
  if (inflight_ > 0) return 0;
  if (last_request_unix_ms_ <= 0) return kInf;
  return std::max<double>(0,
                          static_cast<double>(owner_.now_unix_ms() - last_request_unix_ms_) / 1e3);
}

double ModelDemand::DataAgeSeconds() const {
  int64_t newest = -1;
  for (const PodModel* h : hosts_) newest = std::max(newest, h->pod->last_recv_ns);
  if (newest < 0) return kInf;
  return static_cast<double>(owner_.now_ns() - newest) / 1e9;
}

bool ModelDemand::Fresh() const {
  Refresh();
  return cached_fresh_;
}

std::shared_ptr<const std::vector<std::string>> ModelDemand::HostingPods() const {
  if (hosting_pods_) return hosting_pods_;
  auto pods = std::make_shared<std::vector<std::string>>();
  pods->reserve(hosts_.size());
  for (const PodModel* h : hosts_) pods->push_back(h->pod->pod);
  std::sort(pods->begin(), pods->end());
  hosting_pods_ = std::move(pods);
  return hosting_pods_;
}

namespace {

// One cumulative counter summed over the pods hosting a model.
uint64_t SumOverHosts(const std::vector<PodModel*>& hosts, uint64_t PodModel::*counter) {
  uint64_t total = 0;
  for (const PodModel* h : hosts) total += h->*counter;
  return total;
}

}  // namespace

uint64_t ModelDemand::ArrivalsTotal() const { return SumOverHosts(hosts_, &PodModel::arrivals); }
uint64_t ModelDemand::CompletionsTotal() const {
  return SumOverHosts(hosts_, &PodModel::completions);
}
uint64_t ModelDemand::PromptTokensTotal() const {
  return SumOverHosts(hosts_, &PodModel::prompt_tokens);
}
uint64_t ModelDemand::CompletionTokensTotal() const {
  return SumOverHosts(hosts_, &PodModel::completion_tokens);
}

void ModelDemand::AddHost(PodModel& pm, const std::string& server) {
  orphaned_ns_ = -1;
  pm.index = hosts_.size();
  hosts_.push_back(&pm);
  hosting_pods_.reset();
  server_ = server;
}

void ModelDemand::RemoveHost(const PodModel& pm, int64_t now_ns, bool disruption) {
  inflight_ -= pm.inflight;
  PodModel* last = hosts_.back();
  hosts_[pm.index] = last;
  last->index = pm.index;
  hosts_.pop_back();
  hosting_pods_.reset();
  if (hosts_.empty()) orphaned_ns_ = now_ns;
  if (disruption) last_disruption_ns_ = now_ns;
}

void ModelDemand::Observe(int64_t inflight_delta, int64_t last_request_unix_ms) {
  inflight_ += inflight_delta;
  last_request_unix_ms_ = std::max(last_request_unix_ms_, last_request_unix_ms);
}

bool ModelDemand::Forgettable(int64_t now_ns, int64_t history_ns) const {
  return hosts_.empty() && orphaned_ns_ >= 0 && now_ns - orphaned_ns_ > history_ns;
}

}  // namespace lagscale::coordinator
