#pragma once

// TargetTracking: the target-tracking model policy, after Knative's KPA (stable + panic windows,
// rate limits) and the HPA (tolerance band, scale-down stabilization), with these changes
// (docs/policies.md shows why), on concurrency or, for LLM models with a token target, on
// completion tokens/s:
//  - the requests in flight right now can start a panic, so a queue that builds inside one report
//    interval is acted on at once;
//  - a panic is sized on arrivals x the time per request learned while calm, plus the backlog to
//    drain, not on measured concurrency that the queue inflates while new replicas start; with
//    the start-up delay known, also for the queue that builds until the first of them is ready;
//  - the replicas added only to drain that queue go once it has drained (not before the start-up
//    delay), and the scale-down delay remembers what the arrivals since the panic began needed,
//    not the backlog's extra (letting them go is not a scale-down that flap damping counts as
//    reversed); after that the panic holds what those arrivals need until a new signal, read
//    now, starts a new panic with its own backlog;
//  - for one stable window after a panic, the stable window is sized on its arrivals x the time
//    per request learned before it (its concurrency still holds the queue the panic drained);
//  - scale-down stabilization remembers short-window peaks net of their Poisson noise, so
//    oscillating load stays on its peak; a slow fall, by one replica at a time and beyond the
//    stable window's noise, steps down without waiting out the delay;
//  - a small pool's full capacity holds its demand's Poisson peaks (square-root staffing), where
//    a proportional target leaves less headroom than a few requests' noise;
//  - seconds-long requests (longer than half the panic window): the stable window is sized with
//    one Poisson standard deviation of headroom, the short window's arrivals start a panic only
//    once the requests in flight confirm them, a clear fall of the arrivals steps down without
//    the delay to the stable window's need plus that window's own noise (unless the count rose
//    from 70 % of itself or less within the flap window), and any other fall to 70 % of the
//    count or less waits out twice the delay;
//  - reversals of scale-downs that took effect lengthen the scale-down delay (flap damping), and
//    so does load that comes back to the held level after falling to half of it (the hold saved a
//    reversal).
// A decision is these steps, each in its own function: sample the demand, update the panic state,
// learn the time per request (calm windows only), size (panic or stable), then stabilize (the
// scale-down delay and its damping), rate-limit and bound.
// Files: target_tracking.cc (sampling, panic, learning, sizing), target_tracking_fall.cc (the
// falls that need not wait out the delay), target_tracking_stabilize.cc (stabilization, rate
// limits, flap damping), target_tracking_reason.cc (the decision's reason).
// Thread safety: not thread-safe, one instance per model (policy.h).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <utility>

#include "policy/policies.h"
#include "policy/windowed_extreme.h"

namespace lagscale::coordinator::policy {

class TargetTracking : public ModelPolicy {
 public:
  explicit TargetTracking(const ModelPolicyConfig& config);

  Decision Decide(const ModelContext& context) override;

 private:
  static constexpr double kNever = -std::numeric_limits<double>::infinity();
  // A fall is beyond noise at this many Poisson standard deviations (SlowFall(), ClearFall()).
  static constexpr double kFallMargin = 4;
  // A clear fall's rate was seen before when a stable window within the flap window had no more
  // arrivals than this many Poisson standard deviations above it (FellToRateSeen()).
  static constexpr double kSeenMargin = 2;
  // Seconds-long requests' arrivals rose beyond noise at this many Poisson standard deviations of
  // the difference between the stable window and the window before it (ArrivalsRose()).
  static constexpr double kRiseMargin = 2;
  // For seconds-long requests, in Poisson standard deviations: the headroom on the demand
  // (StableDemand()), and the stable window's own noise a rise must clear (RiseMargin()).
  static constexpr double kNoiseHeadroom = 1;
  // A scale-down of seconds-long requests to this share of the current count or less is a fall of
  // the load, not the noise of a steady one (DeepFallDelay()).
  static constexpr double kDeepFall = 0.7;
  // Such a fall waits out this many configured scale-down delays (DeepFallDelay()).
  static constexpr double kDeepFallDelays = 2;
  // A reversal lengthens the delay to at least this many times as long as the load was away
  // (LengthenDelay()).
  static constexpr double kReturnMargin = 1.25;

  // What the window logic recommends now, and what the short window alone needed (the moment's
  // entry in the scale-down stabilization history).
  struct Sizing {
    int recommendation = 0;
    int short_need = 0;
    // What the load itself needs, without replicas added only to drain a backlog: what the
    // scale-down delay remembers (-1: the recommendation).
    int sustained = -1;
    // A panic letting go of its backlog's replicas: not a scale-down a later scale-up reverses.
    bool releasing_backlog = false;
    // The load is falling slowly and one replica fewer is enough beyond its noise: the step down
    // need not wait out the scale-down delay (SlowFall()).
    bool slow_fall = false;
    // Seconds-long requests whose arrivals fell beyond noise: the scale-down need not wait out the
    // delay at all (ClearFall()).
    bool clear_fall = false;
    // Such a fall, but to a rate seen within the flap window: an oscillation's low phase, which
    // the delay holds (FellToRateSeen()).
    bool fall_seen = false;
    // Such a fall, but within the flap window of a rise from this many replicas, at most
    // kDeepFall of the count (RoseFrom()): the delay holds it (0: no such rise).
    int rose_from = 0;
  };

  // One decision's concurrency readings, taken before the time per request is updated.
  struct ConcurrencySample {
    double stable = 0;       // average concurrency over the stable window
    double inflight = 0;     // requests in flight now
    double short_avg = 0;    // average concurrency over the panic window
    double stable_rate = 0;  // arrivals/s over the stable window
    double short_rate = 0;   // arrivals/s over the short window SampleConcurrency() picks
  };

  // Why a decision was made, kept as numbers: formatting it is most of a decision's cost (the
  // coordinator decides for every model several times a second, and nearly every decision repeats
  // a hold), so the text is built only when the cause or the outcome changes.
  enum class Cause : uint8_t { kStale, kPanic, kWithin, kStable, kPoissonFloor };
  struct Why {
    Cause cause = Cause::kStable;
    double a = 0, b = 0;      // panic: in flight, rps; within / stable / Poisson floor:
                              // average concurrency, and within: the rise margin (RiseMargin()),
                              // stable: a clear fall's noise margin (ClearFallCount())
    bool tokens = false;      // sized on tokens/s: `a` is a token rate
    int held = 0;             // scale-down held at this recommendation (0: not held)
    bool slow_fall = false;   // one replica down without waiting out the delay (SlowFall())
    bool clear_fall = false;  // down without the delay: the arrivals fell (ClearFall())
    bool fall_seen = false;   // held: the arrivals fell to a rate seen before (FellToRateSeen())
    int rose_from = 0;        // held: the arrivals fell soon after a rise from this (RoseFrom())
    bool filled = false;      // the panic began on a rise of arrivals (PanicSignal())
    double delay_s = 0;       // the scale-down delay a fall waits out or is held by
    Direction limited = Direction::kHold;  // rate-limited up or down
    int desired = 0, current = 0;
    // The same outcome for the same cause: the reason already built still says why.
    bool SameAs(const Why& o) const;
  };

  // ---- Sizing (target_tracking.cc).
  void UpdatePanic(bool over, bool fresh, double now, int current);
  Sizing SizeOnTokens(const ModelContext& context);
  Sizing SizeOnConcurrency(const ModelContext& context);
  ConcurrencySample SampleConcurrency(const DemandView& demand) const;
  bool Learned() const { return seconds_per_request_ > 0; }
  // Learned, and a request fits twice in the panic window: the window's arrivals were served
  // inside it, so a clump of them is noise, not load that stays (RememberedShortDemand()).
  bool ShortRequests() const {
    return Learned() && seconds_per_request_ <= params_.panic_window_s / 2;
  }
  // Learned, and a request lasts longer than half the panic window (LLM answers of seconds).
  bool LongRequests() const { return Learned() && !ShortRequests(); }
  // Seconds-long requests' headroom over `demand`: kNoiseHeadroom Poisson standard deviations of
  // what the arrivals keep in flight (StableDemand()); none for other requests.
  double NoiseHeadroom(const ConcurrencySample& sample, double demand) const {
    if (!LongRequests()) return 0;
    return kNoiseHeadroom * std::sqrt(std::min(demand, sample.stable_rate * seconds_per_request_));
  }
  // The level at which one panic signal confirms the other (1.5x capacity by default).
  double ConfirmLevel() const { return 1 + (params_.panic_threshold - 1) / 2; }
  bool AfterPanic(double now) const { return now - panic_ended_s_ < params_.stable_window_s; }
  double StableDemand(const ConcurrencySample& sample, double now) const;
  double ShortDemand(const ConcurrencySample& sample) const;
  double RememberedShortDemand(const DemandView& demand, const ConcurrencySample& sample) const;
  // Whether the panic signal is on, and whether it was read now (see PanicSignal()).
  struct PanicReading {
    bool over = false;
    bool fresh = false;
    bool filled = false;  // a rise of seconds-long requests' arrivals filled the replicas
  };
  PanicReading PanicSignal(const DemandView& demand, const ConcurrencySample& sample, int current,
                           double capacity, bool queue_building) const;
  bool ArrivalsRose(const DemandView& demand, const ConcurrencySample& sample) const;
  // The stable window's arrivals less those of the window before it, and the Poisson standard
  // deviation of that difference (ClearFall(), ArrivalsRose()).
  struct ArrivalsChange {
    double change = 0;
    double sd = 0;
  };
  ArrivalsChange ChangeOfArrivals(const DemandView& demand, const ConcurrencySample& sample) const;
  void Learn(const ConcurrencySample& sample, bool queue_building, double now);
  Sizing SizePanic(const ConcurrencySample& sample, const DemandView& demand_view, double target,
                   int current, double now);
  int SizeOnStable(double stable, double target, int current, double rise_margin = 0);
  double RiseMargin(const DemandView& demand, const ConcurrencySample& sample) const;
  double WindowNoise(const ConcurrencySample& sample) const;
  int PoissonFloor(const ConcurrencySample& sample, double demand, double target) const;
  double BacklogStillToCome(double steady, double now) const;
  double DrainSlotsPerRequest() const;

  // ---- Falls that need not wait out the scale-down delay (target_tracking_fall.cc).
  bool SlowFall(const DemandView& demand, const ConcurrencySample& sample, double target,
                int current) const;
  bool ClearFall(const DemandView& demand, const ConcurrencySample& sample, double target,
                 int current) const;
  int ClearFallCount(const ConcurrencySample& sample, double now, double target, int current,
                     int recommendation);
  void RecordStableRate(double rate, double now);
  bool FellToRateSeen(const ConcurrencySample& sample, double now) const;
  int RoseFrom(int current) const;

  // ---- Stabilization, rate limits, bounds (target_tracking_stabilize.cc).
  Decision Stabilize(const Sizing& sizing, double now, int current);
  int HoldScaleDown(int recommendation, double now, int current, const Sizing& sizing);
  double DeepFallDelay(int recommendation, int current);
  int RateLimit(int desired, int current);
  void Remember(double now, int recommendation);
  bool HoldSavedReversal(int recommendation, int current) const;
  void TrackHold(int desired, int recommendation);
  void Damp(Direction direction, double now, bool releasing_backlog, int current);
  void MarkLoadLeft(double now);
  void LengthenDelay(double now, double away_s);

  // ---- The decision and its reason (target_tracking_reason.cc).
  Decision Conclude(int desired, int current);
  std::string Explain(Direction direction) const;
  template <typename Add>
  void ExplainConcurrency(Add& add, double target) const;
  template <typename Add>
  void ExplainTokens(Add& add) const;

  const ModelPolicyConfig config_;
  const TargetTrackingParams& params_ = config_.tracking;
  int last_desired_ = -1;
  bool panicking_ = false;
  double last_over_s_ = kNever;
  double panic_began_s_ = kNever;
  double panic_ended_s_ = kNever;
  int panic_ready_ = 0;                         // replicas when the panic began
  bool panic_released_ = false;                 // the panic's backlog replicas have gone
  bool panic_filled_ = false;                   // it began on a rise of arrivals (PanicSignal())
  double seconds_per_request_ = 0;              // see Learn()
  // (time, arrivals/s over the stable window), one a second over the flap window: the rates a
  // clear fall may return to (FellToRateSeen()).
  std::deque<std::pair<double, double>> stable_rates_;
  WindowedMin counts_;           // the replicas at each decision over the flap window (RoseFrom())
  WindowedMax recommendations_;  // scale-down stabilization, see Remember()
  Why why_;                                     // the decision being made
  Why reason_why_;                              // what reason_ was built from
  std::string reason_;
  double down_delay_s_;
  double last_down_s_ = kNever;
  bool reversible_ = false;  // the last scale event was down: a scale-up now reverses it
  int down_from_ = 0;  // the most replicas when a scale-down since the last scale-up was decided
  double load_left_s_ = kNever;  // when the load those scale-downs let go of left (MarkLoadLeft())
  bool down_was_clear_fall_ = false;
  bool clear_fall_reversed_ = false;  // since the delay last relaxed (ClearFall())
  double last_reversal_s_ = kNever;
  double last_damped_block_s_ = kNever;
  bool holding_ = false;  // the last decision's scale-down was held by the delay
  int hold_low_ = 0;      // the lowest recommendation since that hold began
  bool deep_fall_ = false;  // that hold began or went on with a deep fall (DeepFallDelay())
};

}  // namespace lagscale::coordinator::policy
