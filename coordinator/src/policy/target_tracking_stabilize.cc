// TargetTracking's last steps, whatever the sizing signal: scale-down stabilization (with flap
// damping of its delay), rate limits both ways, and the replica bounds.
#include <algorithm>
#include <cmath>

#include "policy/target_tracking.h"

namespace lagscale::coordinator::policy {

Decision TargetTracking::Stabilize(const Sizing& sizing, double now, int current) {
  const int recommendation =
      Clamp(sizing.recommendation, config_.min_replicas, config_.max_replicas);
  // Each moment recommends at least what its short window needed. A stable window averages an
  // oscillation away; remembering the short-window peaks keeps oscillating load on its peak
  // instead of dropping between peaks and paying a reversal (and a start-up delay) each time.
  const int sustained = sizing.sustained < 0
                            ? recommendation
                            : Clamp(sizing.sustained, config_.min_replicas, config_.max_replicas);
  Remember(now, std::max(sustained,
                         Clamp(sizing.short_need, config_.min_replicas, config_.max_replicas)));
  if (HoldSavedReversal(recommendation, current)) LengthenDelay(now, 0);
  int desired = HoldScaleDown(recommendation, now, current, sizing);
  TrackHold(desired, recommendation);
  desired = Clamp(RateLimit(desired, current), config_.min_replicas, config_.max_replicas);
  Damp(DirectionOf(current, desired), now, sizing.releasing_backlog, current);
  last_desired_ = desired;
  return Conclude(desired, current);
}

// Scale-down stabilization: the highest recommendation over the (possibly damped) delay, or over
// DeepFallDelay() for a deep fall of seconds-long requests. A slow fall (SlowFall()) takes one
// replica at once when the delay held nothing above the current count (not a drop from higher: a
// square wave's low phase keeps its hold) and is not lengthened by reversals. A clear fall
// (ClearFall()) goes down to the recommendation, held or not, unless a clear fall was reversed
// since the delay last relaxed: the load it let go of came back (a square wave of seconds-long
// requests), and from then on the delay holds as for any other load.
int TargetTracking::HoldScaleDown(int recommendation, double now, int current,
                                  const Sizing& sizing) {
  if (recommendation >= current) return recommendation;
  if (sizing.clear_fall && !clear_fall_reversed_) {
    why_.clear_fall = true;
    return recommendation;
  }
  const double delay = DeepFallDelay(recommendation, current);
  why_.delay_s = delay;
  const int highest = recommendations_.Since(now - delay);
  if (sizing.slow_fall && recommendation == current - 1 && highest == current &&
      delay <= params_.scale_down_delay_s) {
    why_.slow_fall = true;
    return recommendation;
  }
  const int desired = std::min(current, highest);
  if (desired > recommendation) {
    if (highest > recommendations_.Since(now - params_.scale_down_delay_s)) {
      last_damped_block_s_ = now;
    }
    why_.held = highest;
    why_.fall_seen = sizing.fall_seen;
    why_.rose_from = sizing.rose_from;
  }
  return desired;
}

// A deep fall of seconds-long requests (issue 20, square waves of 6 s answers): outside a panic,
// the recommendation at kDeepFall of the current count or below and more than one replica under
// it, not a clear fall (those go at once), waits out at least twice the configured delay, and so
// does the rest of the hold it starts (a hold that releases part of the count and holds the
// rest). A square wave's first low phase reads as a fall to a rate never seen before; the 60 s
// delay ran out inside the 240 s period's 120 s low phase, and the next rise paid a start-up on
// 6-7 replicas where 9-13 had served: 9.6 SLO-violation seconds on seeds 1-5, KEDA's 300 s window
// 3.4. The noise of a steady high phase moves a count of 15-17 by a replica or two, above
// kDeepFall: holding every fall of seconds-long requests for 120 s held that noise too (llm_step
// 1.29x -> 1.33x the oracle). A panic letting go of its backlog's replicas is not a fall of the
// load, nor is one replica of a pool of 2-3.
double TargetTracking::DeepFallDelay(int recommendation, int current) {
  if (!holding_) deep_fall_ = false;
  if (LongRequests() && !panicking_ && recommendation <= kDeepFall * current &&
      recommendation < current - 1) {
    deep_fall_ = true;
  }
  return deep_fall_ ? std::max(down_delay_s_, kDeepFallDelays * params_.scale_down_delay_s)
                    : down_delay_s_;
}

// Load that fell to half the held level or less and came back to it while the delay still held
// it: the hold saved a reversal, which the flap damping would have answered by lengthening the
// delay, so the hold does the same. Bursts that return after a gap longer than the delay then
// find their replicas (issue 20, onoff: a burst 80 s after the previous one paid a start-up, 11-13
// SLO-violation seconds, because only the reversal it caused lengthened the delay). Only for
// requests short enough that the short window's readings are net of their noise (ShortRequests()):
// with seconds-long requests a noise panic's held level is reached again by a rise, not a return,
// and lengthening the delay there held replicas through the LLM traces (llm_step 1.76x -> 1.83x
// the oracle).
bool TargetTracking::HoldSavedReversal(int recommendation, int current) const {
  return holding_ && ShortRequests() && hold_low_ * 2 <= current && recommendation >= current;
}

// Whether this decision's scale-down was held, and the lowest recommendation since the hold began.
void TargetTracking::TrackHold(int desired, int recommendation) {
  if (desired <= recommendation) {
    holding_ = false;
    return;
  }
  hold_low_ = holding_ ? std::min(hold_low_, recommendation) : recommendation;
  holding_ = true;
}

// Rate limits both ways (KPA: up to ceil(rate x ready), down to floor(ready / rate)).
int TargetTracking::RateLimit(int desired, int current) {
  if (current <= 0) return desired;
  const int up_cap = UpCap(current, config_.max_scale_up_rate);
  const int down_floor =
      static_cast<int>(std::floor(current / std::max(params_.max_scale_down_rate, 1.0)));
  if (desired > up_cap) {
    why_.limited = Direction::kUp;
    return up_cap;
  }
  if (desired < down_floor) {
    why_.limited = Direction::kDown;
    return down_floor;
  }
  return desired;
}

// Scale-down stabilization remembers each recommendation for the longest delay that may read it.
void TargetTracking::Remember(double now, int recommendation) {
  const double keep =
      std::max(params_.max_scale_down_delay_s, kDeepFallDelays * params_.scale_down_delay_s);
  recommendations_.Add(now, recommendation, keep);
}

// A scale-up soon after a scale-down that took effect (there are fewer replicas than when the
// scale-downs since the last scale-up were decided) is a reversal: lengthen the scale-down delay
// (LengthenDelay()). A scale-down that was never carried out (the target refused it, or something
// else holds its count) reversed nothing: counting it doubled the delay from the first minutes
// (issue 20: the simulator's warm-up, whose replicas do not change, started every LLM trace at a
// 120 s delay). Only the first scale-up after a scale-down reverses it: a burst's panic takes
// several steps up, and counting each one doubled the delay to its maximum after a single reversal
// (issue 20: 600 s held on 6 s requests long after the burst was gone). Relax to the configured
// delay once no reversal happened and no scale-down was held by the longer delay for
// max_scale_down_delay_s.
void TargetTracking::Damp(Direction direction, double now, bool releasing_backlog, int current) {
  if (direction == Direction::kUp && reversible_ && now - last_down_s_ < params_.flap_window_s &&
      current < down_from_) {
    LengthenDelay(now, now - load_left_s_);
    if (down_was_clear_fall_) clear_fall_reversed_ = true;
  }
  if (direction == Direction::kUp) {
    down_from_ = 0;
    load_left_s_ = kNever;
  }
  if (direction != Direction::kHold) {
    reversible_ = direction == Direction::kDown && !releasing_backlog;
  }
  if (direction == Direction::kDown) {
    last_down_s_ = now;
    down_from_ = std::max(down_from_, current);
    down_was_clear_fall_ = why_.clear_fall;
    if (!releasing_backlog) MarkLoadLeft(now);
  }
  const double quiet = params_.max_scale_down_delay_s;
  if (now - last_reversal_s_ > quiet && now - last_damped_block_s_ > quiet) {
    down_delay_s_ = params_.scale_down_delay_s;
    clear_fall_reversed_ = false;
  }
}

// When the load that the scale-downs since the last scale-up let go of was last needed. A
// scale-down that waited out the delay lets go of a count last recommended a delay ago, and the
// first of them counts: a hold lets its count go over several decisions as the delay passes each
// step's last recommendation. A fall that did not wait (a slow or a clear fall) sees the load
// leave now.
void TargetTracking::MarkLoadLeft(double now) {
  if (why_.slow_fall || why_.clear_fall) {
    load_left_s_ = now;
  } else if (load_left_s_ == kNever) {
    load_left_s_ = now - why_.delay_s;
  }
}

// Doubles the scale-down delay, and makes it at least kReturnMargin times as long as the load
// was away (`away_s`, 0 when it never left), up to max_scale_down_delay_s; Damp() relaxes it.
// Bursts that come back on a period find their replicas from the second return on, not after
// enough reversals have doubled the delay past the period (issue 20, LLM on/off: bursts of 6 s
// answers every 280-400 s each paid a start-up while the delay doubled 60 -> 120 -> 240 -> 480 s,
// 55.4 SLO-violation seconds on seeds 1-5 against KEDA's 53.6; now 33.0).
void TargetTracking::LengthenDelay(double now, double away_s) {
  down_delay_s_ = std::min(std::max(params_.max_scale_down_delay_s, params_.scale_down_delay_s),
                           std::max(down_delay_s_ * 2, kReturnMargin * away_s));
  last_reversal_s_ = now;
}

}  // namespace lagscale::coordinator::policy
