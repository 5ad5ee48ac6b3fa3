#include "sampled_demand.h"

#include <algorithm>
#include <limits>

namespace lagscale::sim {

void SampledDemand::Add(const Report& report) {
  reports_.push_back(report);
  // Keep one report older than the longest window so that window stays fully covered.
  while (reports_.size() > 2 && reports_[1].t_s < report.t_s - keep_s_) reports_.pop_front();
}

const Report& SampledDemand::Base(double window_s) const {
  const double want = reports_.back().t_s - window_s;
  auto it = std::upper_bound(reports_.begin(), reports_.end(), want,
                             [](double t, const Report& r) { return t < r.t_s; });
  return it == reports_.begin() ? reports_.front() : *std::prev(it);
}

double SampledDemand::AverageConcurrency(double window_s) const {
  if (reports_.empty()) return 0;
  const Report& last = reports_.back();
  const Report& base = Base(window_s);
  if (last.t_s - base.t_s <= 0) return last.inflight;
  return (last.integral - base.integral) / (last.t_s - base.t_s);
}

double SampledDemand::Inflight() const { return reports_.empty() ? 0 : reports_.back().inflight; }

double SampledDemand::ArrivalRate(double window_s) const {
  if (reports_.empty()) return 0;
  const Report& last = reports_.back();
  const Report& base = Base(window_s);
  if (last.t_s - base.t_s <= 0) return 0;
  return static_cast<double>(last.arrivals - base.arrivals) / (last.t_s - base.t_s);
}

double SampledDemand::TokenRate(double window_s) const {
  if (reports_.empty()) return 0;
  const Report& last = reports_.back();
  const Report& base = Base(window_s);
  if (last.t_s - base.t_s <= 0) return 0;
  return (last.tokens - base.tokens) / (last.t_s - base.t_s);
}

double SampledDemand::IdleSeconds() const {
  if (reports_.empty() || reports_.back().last_arrival_s < 0) {
    return std::numeric_limits<double>::infinity();
  }
  return now_s_ - reports_.back().last_arrival_s;
}

}  // namespace lagscale::sim
