// TargetTracking's falls: when a scale-down need not wait out the scale-down delay (a slow fall
// by one replica, a clear fall of seconds-long requests' arrivals; their rise, for the panic, is
// read the same way), and when a clear fall is an oscillation's low phase that the delay holds
// after all (target_tracking.h gives the whole design; HoldScaleDown() in
// target_tracking_stabilize.cc acts on them).
#include <algorithm>
#include <cmath>

#include "policy/target_tracking.h"

namespace lagscale::coordinator::policy {

// A slow fall (issue 20, diurnal): the load falls by one replica's worth at a time, and each step
// down waited out the whole scale-down delay after the stable window had seen it, 75 s per step
// where KPA, with no delay, lags 30 s: 1.8 % more replica-seconds than KPA over the day. The
// delay is there for load that comes back (a square wave's low phase) and for noise, so one
// replica goes early only when the load has clearly fallen, not just dipped:
//  - not panicking (a panic sizes and releases its own replicas);
//  - falling: the stable window averages less than the two stable windows ending now, so its
//    load is below the window before it (a burst's arrival into a count the delay held reads the
//    other way: without this, onoff's SLO-violation seconds went from 14.9 to 17.6);
//  - beyond noise: one replica fewer suffices for the stable window's concurrency raised by
//    kFallMargin standard deviations of its noise (WindowNoise()). The flat trace sits at 7.14
//    replicas' worth: 3 put 0.2 scale events on it over seeds 6-10, where there must be none; 3.5
//    raised diurnal's SLO-violation seconds over seeds 1-10 from 0.02 to 0.06; at 4 neither moved;
//    for seconds-long requests, with the headroom the stable window sizes them with on top
//    (NoiseHeadroom()): a window reading two standard deviations low took a replica from the count
//    that headroom asks for, and the next clump took it back (llm_step: 24.4 -> 22.7 SLO-violation
//    seconds on seeds 1-5, 2.9 -> 2.1 reversals per 5 minutes);
//  - and now: the short window's concurrency needs no more either (load turning up again).
// HoldScaleDown() takes the step only when the delay held nothing above the current count.
// The two-window average is read last, only when everything else holds: nearly every decision
// of every model stops at the first checks.
bool TargetTracking::SlowFall(const DemandView& demand, const ConcurrencySample& sample,
                              double target, int current) const {
  if (panicking_ || current <= 1 || sample.stable_rate * params_.stable_window_s < 1) {
    return false;
  }
  const double high =
      sample.stable + kFallMargin * WindowNoise(sample) + NoiseHeadroom(sample, sample.stable);
  return ReplicasFor(high, target, params_.tolerance) < current &&
         ReplicasFor(sample.short_avg, target, params_.tolerance) < current &&
         demand.AverageConcurrency(2 * params_.stable_window_s) > sample.stable;
}

// A clear fall (issue 20, the LLM traces), for seconds-long requests only: the stable window's
// arrivals are below those of the window before it by more than kFallMargin Poisson standard
// deviations of their difference, not panicking, and the short window needs fewer replicas than
// there are. HoldScaleDown() then steps down to what ClearFallCount() asks without waiting out
// the delay: a rate that halved or less (6 -> 2 rps of 6 s answers) held 9-19 replicas where 5-6
// were needed for the 60-120 s of the delay, and then for as long as the short windows' noise kept
// renewing the hold (llm_step 1.76x -> 1.30x the oracle's replica-seconds with the headroom and the
// confirmed panic). Short requests keep the delay: their square waves' low phases are clear falls
// too, and the hold is what spares those a reversal and a start-up at every edge.
bool TargetTracking::ClearFall(const DemandView& demand, const ConcurrencySample& sample,
                               double target, int current) const {
  if (panicking_ || current <= 1 || !LongRequests()) return false;
  const ArrivalsChange fall = ChangeOfArrivals(demand, sample);
  return -fall.change > kFallMargin * fall.sd &&
         ReplicasFor(sample.short_avg, target, params_.tolerance) < current;
}

// The way up (PanicSignal()): the stable window's arrivals exceed those of the window before it by
// more than kRiseMargin standard deviations of the difference.
bool TargetTracking::ArrivalsRose(const DemandView& demand, const ConcurrencySample& sample) const {
  const ArrivalsChange rise = ChangeOfArrivals(demand, sample);
  return rise.change > kRiseMargin * rise.sd;
}

TargetTracking::ArrivalsChange TargetTracking::ChangeOfArrivals(
    const DemandView& demand, const ConcurrencySample& sample) const {
  const double window = params_.stable_window_s;
  const double recent = sample.stable_rate * window;
  const double before = std::max(0.0, demand.ArrivalRate(2 * window) * 2 * window - recent);
  return {recent - before, std::sqrt(before + recent)};
}

// How far a clear fall goes: what the stable window asks, raised by kNoiseHeadroom standard
// deviations of the window's own noise (as RiseMargin() on the way up), never above the count.
// A clear fall steps down at every decision to what the stable window reads then, so it ends on
// the lowest of many readings of one rate: on a step from 6 to 2 rps of 6 s answers (11.7 in
// flight, 5-6 replicas), windows that read 2 standard deviations low left 4 replicas, and a
// Poisson clump of 19 queued on their 16 slots and started a panic (issue 20, llm_step_down:
// 1.22 -> 0.05 SLO-violation seconds on seeds 1-5, where KEDA, at 1.7x the oracle's
// replica-seconds, has 0.16; llm_tokens 1.250x -> 1.265x the oracle, llm_step 1.295x -> 1.293x).
int TargetTracking::ClearFallCount(const ConcurrencySample& sample, double now, double target,
                                   int current, int recommendation) {
  const double noise = kNoiseHeadroom * WindowNoise(sample);
  const int count =
      std::min(current, ReplicasFor(StableDemand(sample, now) + noise, target, params_.tolerance));
  if (count <= recommendation) return recommendation;
  why_.b = noise;
  return count;
}

// A clear fall to a rate the arrivals already had within the flap window, before the two windows
// the fall compares, is the low phase of an oscillation, not the end of a load: the delay holds it
// as for short requests, and the replicas are there when the load comes back. Without this, every
// square wave of 6 s answers (bench/traces/extra/) let go of its replicas at the first low phase
// and paid a start-up at the next rise: 11-16 SLO-violation seconds on the 60-240 s periods, where
// KEDA, whose 300 s window holds through them, had 3.2-3.4 (issue 20). A step down stays a clear
// fall: llm_step's 6 -> 2 rps comes 360 s after its rise, llm_tokens' 4 -> 2 rps 300 s after. The
// lowest of many windows reads low by their noise, so "seen" allows kSeenMargin standard deviations
// (4, as for the fall itself, held llm_tokens' end of load too: 1.23x -> 1.30x the oracle). One
// rate a second, 300 for the default flap window: a 5 s record read a 120 s period's trough less
// often (3.6 -> 5.2 SLO-violation seconds).
void TargetTracking::RecordStableRate(double rate, double now) {
  if (!stable_rates_.empty() && now - stable_rates_.back().first < 1) return;
  stable_rates_.emplace_back(now, rate);
  while (now - stable_rates_.front().first > params_.flap_window_s) stable_rates_.pop_front();
}

bool TargetTracking::FellToRateSeen(const ConcurrencySample& sample, double now) const {
  const double window = params_.stable_window_s;
  const double recent = sample.stable_rate * window;
  for (const auto& [t, rate] : stable_rates_) {
    if (t > now - 2 * window) break;
    const double seen = rate * window;
    if (seen - recent <= kSeenMargin * std::sqrt(seen + recent)) return true;
  }
  return false;
}

// A clear fall within the flap window of a rise from kDeepFall of the count or less is more
// likely a square wave's low phase than the end of a load, even to a rate never seen before: the
// delay holds it like any other fall (a fall back towards that count is deep, DeepFallDelay():
// 120 s). A square wave of 6 s answers falls to its low
// rate for the first time 120 s after its first rise on the 240 s period; as a clear fall it let
// go of about 40 % of the replicas at once, and the next rise paid a start-up (issue 20, seeds
// 1-20: 7.8-14.8 SLO-violation seconds on four seeds of the 240 s period, 0-3.5 held; two of the
// 120 s period, 10-16 -> 0). llm_step's 6 -> 2 rps comes 360 s after its rise, and llm_tokens'
// 4 -> 2 rps 300 s after: by then the flap window holds only the high count (counts_).
int TargetTracking::RoseFrom(int current) const {
  const int lowest = counts_.Kept();
  return lowest <= kDeepFall * current ? lowest : 0;
}

}  // namespace lagscale::coordinator::policy
