#pragma once

// FakeDemand: a DemandView whose answers a test sets directly. Windows at or above
// `long_window_s` read the "stable" values, shorter windows the "short" ones.

#include <limits>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator::testing {

struct FakeDemand : DemandView {
  double long_window_s = 10;
  double stable_concurrency = 0;
  double short_concurrency = 0;
  double stable_rate = 0;
  double short_rate = 0;
  double inflight = 0;
  double idle_s = std::numeric_limits<double>::infinity();
  double token_rate = 0;
  bool fresh = true;

  // Steady load: concurrency c from `rate` requests/s of c/rate seconds each, in every window.
  void Steady(double c, double rate) {
    stable_concurrency = short_concurrency = inflight = c;
    stable_rate = short_rate = rate;
  }

  double AverageConcurrency(double window_s) const override {
    return window_s >= long_window_s ? stable_concurrency : short_concurrency;
  }
  double Inflight() const override { return inflight; }
  double ArrivalRate(double window_s) const override {
    return window_s >= long_window_s ? stable_rate : short_rate;
  }
  double IdleSeconds() const override { return idle_s; }
  double TokenRate(double) const override { return token_rate; }
  bool Fresh() const override { return fresh; }
};

}  // namespace lagscale::coordinator::testing
