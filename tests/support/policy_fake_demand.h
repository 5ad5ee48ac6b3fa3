#pragma once

// FakeDemand: a DemandView whose answers a test sets directly. Windows at or above
// `long_window_s` read the "stable" values, shorter windows the "short" ones; arrivals over
// windows longer than `mid_from_s` (and shorter than `long_window_s`) read `mid_rate`; concurrency
// over windows at or above `trend_window_s` reads `trend_concurrency`, and arrivals `trend_rate`
// when it is set.

#include <limits>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator::testing {

struct FakeDemand : DemandView {
  double long_window_s = 10;
  double stable_concurrency = 0;
  double short_concurrency = 0;
  double stable_rate = 0;
  double short_rate = 0;
  double mid_from_s = std::numeric_limits<double>::infinity();
  double mid_rate = 0;
  double trend_window_s = std::numeric_limits<double>::infinity();
  double trend_concurrency = 0;
  double trend_rate = -1;  // -1: trend windows read stable_rate
  double inflight = 0;
  double idle_s = std::numeric_limits<double>::infinity();
  double stable_token_rate = 0;  // completion tokens/s in long windows
  double short_token_rate = 0;   // and in short ones
  bool fresh = true;

  // Steady token output: `tokens_per_s` in every window.
  void SteadyTokens(double tokens_per_s) { stable_token_rate = short_token_rate = tokens_per_s; }

  // Steady load: concurrency c from `rate` requests/s of c/rate seconds each, in every window.
  void Steady(double c, double rate) {
    stable_concurrency = short_concurrency = inflight = c;
    stable_rate = short_rate = rate;
  }

  double AverageConcurrency(double window_s) const override {
    if (window_s >= trend_window_s) return trend_concurrency;
    return window_s >= long_window_s ? stable_concurrency : short_concurrency;
  }
  double Inflight() const override { return inflight; }
  double ArrivalRate(double window_s) const override {
    if (window_s >= trend_window_s && trend_rate >= 0) return trend_rate;
    if (window_s >= long_window_s) return stable_rate;
    return window_s > mid_from_s ? mid_rate : short_rate;
  }
  double IdleSeconds() const override { return idle_s; }
  double TokenRate(double window_s) const override {
    return window_s >= long_window_s ? stable_token_rate : short_token_rate;
  }
  bool Fresh() const override { return fresh; }
};

}  // namespace lagscale::coordinator::testing
