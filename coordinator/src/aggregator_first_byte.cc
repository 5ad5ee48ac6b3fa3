// Time to first byte per model: the pods' cumulative histograms turned into per-slot deltas, so
// the quantiles on /status describe the last minute, not the sidecars' whole lifetime.
#include <algorithm>
#include <cmath>

#include "aggregator_state.h"

namespace lagscale::coordinator {
namespace {

// Coarse slots: a window's quantile may include up to one slot (5 s) of older answers.
constexpr int64_t kSlotNs = 5'000'000'000;
// One slot more than the history, so a full window is covered whatever the phase of now.
constexpr size_t kSlots = static_cast<size_t>(ModelDemand::kFirstByteHistory_s * 1e9 / kSlotNs) + 1;

}  // namespace

void ModelDemand::AddFirstBytes(int64_t now_ns, const std::vector<double>& bounds,
                                const std::vector<uint64_t>& counts) {
  llm_ = true;
  if (first_byte_bounds_.empty()) {
    first_byte_bounds_ = bounds;
    first_byte_slots_.resize(kSlots);
  }
  if (bounds != first_byte_bounds_) return;
  const int64_t k = now_ns / kSlotNs;
  FirstByteSlot& slot = first_byte_slots_[static_cast<size_t>(k) % kSlots];
  if (slot.index != k) slot = FirstByteSlot{k, std::vector<uint64_t>(counts.size(), 0)};
  for (size_t i = 0; i < counts.size(); ++i) slot.counts[i] += counts[i];
}

std::vector<uint64_t> ModelDemand::FirstByteWindow(double window_s) const {
  std::vector<uint64_t> sum(first_byte_bounds_.size() + 1, 0);
  const int64_t now_ns = owner_.now_ns();
  const double window = std::min(window_s, kFirstByteHistory_s);
  const int64_t oldest = (now_ns - static_cast<int64_t>(window * 1e9)) / kSlotNs;
  for (const auto& slot : first_byte_slots_) {
    if (slot.index < oldest || slot.index > now_ns / kSlotNs) continue;
    for (size_t i = 0; i < sum.size() && i < slot.counts.size(); ++i) sum[i] += slot.counts[i];
  }
  return sum;
}

uint64_t ModelDemand::FirstByteCount(double window_s) const {
  const auto counts = FirstByteWindow(window_s);
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  return total;
}

std::optional<double> ModelDemand::FirstByteQuantile(double q, double window_s) const {
  const auto& bounds = first_byte_bounds_;
  const auto counts = FirstByteWindow(window_s);
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return std::nullopt;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  double below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const auto in_bucket = static_cast<double>(counts[i]);
    if (in_bucket == 0 || below + in_bucket < rank) {
      below += in_bucket;
      continue;
    }
    // The +Inf bucket has no upper end: like histogram_quantile(), answer its lower bound.
    if (i == bounds.size()) return bounds.empty() ? 0 : bounds.back();
    const double lo = i == 0 ? 0 : bounds[i - 1];
    return lo + (bounds[i] - lo) * (rank - below) / in_bucket;
  }
  return bounds.empty() ? 0 : bounds.back();
}

void Aggregator::ApplyFirstBytes(const v1::ModelCounters& mc, PodModel& pm, bool baseline,
                                 int64_t now_ns) {
  if (!mc.has_time_to_first_byte()) return;
  const auto& h = mc.time_to_first_byte();
  std::vector<uint64_t> cumulative(h.counts().begin(), h.counts().end());
  // A histogram missing from the previous report had no observations then. A bucket layout that
  // changed within one incarnation cannot come from a real sidecar: it only starts a new base.
  if (pm.first_bytes.empty()) pm.first_bytes.assign(cumulative.size(), 0);
  const bool comparable = pm.first_bytes.size() == cumulative.size();
  if (!baseline && comparable) {
    std::vector<uint64_t> delta(cumulative.size());
    bool any = false;
    for (size_t i = 0; i < delta.size(); ++i) {
      delta[i] = cumulative[i] >= pm.first_bytes[i] ? cumulative[i] - pm.first_bytes[i] : 0;
      any = any || delta[i] != 0;
    }
    if (any) {
      const std::vector<double> bounds(h.upper_bounds_seconds().begin(),
                                       h.upper_bounds_seconds().end());
      pm.model->AddFirstBytes(now_ns, bounds, delta);
    }
  }
  pm.first_bytes = std::move(cumulative);
}

}  // namespace lagscale::coordinator
