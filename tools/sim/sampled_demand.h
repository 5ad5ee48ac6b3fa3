#pragma once

// SampledDemand: the coordinator's view of one model in the simulator. It keeps what the sidecar
// reports carry (cumulative busy-time integral, arrivals, in-flight, last arrival) at the moments
// they are sent, so the policy sees exactly the information a real coordinator would: averages
// are exact between reports, and nothing newer than the last report is visible.
// Thread safety: none.

#include <cstdint>
#include <deque>

#include "lagscale/coordinator/policy.h"

namespace lagscale::sim {

struct Report {
  double t_s = 0;
  double integral = 0;  // in-flight integrated over time (busy request-seconds)
  uint64_t arrivals = 0;
  double inflight = 0;
  double last_arrival_s = -1;
  double tokens = 0;  // cumulative output tokens of completed requests
};

class SampledDemand : public coordinator::DemandView {
 public:
  explicit SampledDemand(double keep_s) : keep_s_(keep_s) {}

  void Add(const Report& report);
  void SetNow(double now_s) { now_s_ = now_s; }
  const Report* latest() const { return reports_.empty() ? nullptr : &reports_.back(); }

  double AverageConcurrency(double window_s) const override;
  double Inflight() const override;
  double ArrivalRate(double window_s) const override;
  double IdleSeconds() const override;
  double TokenRate(double window_s) const override;
  bool Fresh() const override { return !reports_.empty(); }

 private:
  // The newest report at least `window_s` older than the latest, else the oldest kept.
  const Report& Base(double window_s) const;

  double keep_s_;
  double now_s_ = 0;
  std::deque<Report> reports_;
};

}  // namespace lagscale::sim
