// Target tracking, after Knative's KPA (stable + panic windows, rate limits) and the HPA
// (tolerance band, scale-down stabilization), with these changes (docs/policies.md shows why),
// on concurrency or, for LLM models with a token target, on completion tokens/s:
//  - the requests in flight right now can start a panic, so a queue that builds inside one report
//    interval is acted on at once;
//  - a panic is sized on arrivals x the time per request learned while calm, plus the backlog to
//    drain, not on measured concurrency that the queue inflates while new replicas start; with
//    the start-up delay known, also for the queue that builds until the first of them is ready;
//  - scale-down stabilization remembers short-window peaks, so oscillating load stays on its peak;
//  - reversals lengthen the scale-down delay (flap damping).
#include <cmath>
#include <deque>
#include <limits>
#include <utility>

#include "policy/policies.h"

namespace lagscale::coordinator::policy {
namespace {

constexpr double kNever = -std::numeric_limits<double>::infinity();

class TargetTracking : public ModelPolicy {
 public:
  explicit TargetTracking(const ModelPolicyConfig& config)
      : config_(config), down_delay_s_(config.scale_down_delay_s) {}

  Decision Decide(const ModelContext& context) override {
    const int current = context.current_replicas;
    const double now = context.now_s;
    if (!context.demand.Fresh()) {
      // Hold (policies.h HoldOnStaleData), with the reason built only when the hold changes.
      const int held = std::max({last_desired_, current, config_.min_replicas});
      why_ = Why{};
      why_.cause = Cause::kStale;
      return Conclude(held, current);
    }
    const Sizing sizing =
        config_.target_tokens_per_second > 0 ? SizeOnTokens(context) : SizeOnConcurrency(context);
    return Stabilize(sizing, now, current);
  }

 private:
  // What the window logic recommends now, and what the short window alone needed (the moment's
  // entry in the scale-down stabilization history).
  struct Sizing {
    int recommendation = 0;
    int short_need = 0;
  };

  // Panic when the short window reads panic_threshold x the capacity we have (or, from zero
  // replicas, any demand at all); it lasts until a full stable window passes without that (KPA).
  void UpdatePanic(bool over, double now, int current) {
    if (over) {
      if (!panicking_) {  // the replicas there are now were ready: the panic starts its own
        panic_began_s_ = now;
        panic_ready_ = current;
      }
      panicking_ = true;
      last_over_s_ = now;
    } else if (panicking_ && now - last_over_s_ >= config_.stable_window_s) {
      panicking_ = false;
    }
  }

  // LLM models (target_tokens_per_second > 0): a replica's capacity is its decode throughput, so
  // completion tokens/s sizes it whatever the answers' length, where concurrency would read a
  // shift to longer answers as more load per request only after they have been in flight.
  Sizing SizeOnTokens(const ModelContext& context) {
    const double target = config_.target_tokens_per_second;
    const int current = context.current_replicas;
    const double stable = context.demand.TokenRate(config_.stable_window_s);
    const double burst = context.demand.TokenRate(config_.panic_window_s);
    UpdatePanic(current == 0 ? burst > 0 : burst >= config_.panic_threshold * current * target,
                context.now_s, current);
    why_ = Why{};
    why_.tokens = true;
    int recommendation;
    if (panicking_) {
      recommendation = std::max(ReplicasFor(burst, target, config_.tolerance), current);
      why_.cause = Cause::kPanic;
      why_.a = burst;
    } else {
      recommendation = SizeOnStable(stable, target, current);
    }
    return Sizing{recommendation, ReplicasFor(burst, target, config_.tolerance)};
  }

  // Outside a panic, in either unit: hold within the tolerance band around the current count, else
  // size for the stable-window demand. The tolerance also applies to the rounding: a band only
  // around the current count would let 1.0002 at target 1 round up to 2 on the way down, and then
  // hold 2 (0.5 is outside the band around 2) for good. Within the tolerance of a whole count,
  // that count is enough; it is also inside the band around it, so the next decision holds there.
  int SizeOnStable(double stable, double target, int current) {
    why_.a = stable;
    if (current > 0 && std::fabs(stable / (current * target) - 1) <= config_.tolerance) {
      why_.cause = Cause::kWithin;
      return current;
    }
    why_.cause = Cause::kStable;
    return ReplicasFor(stable, target, config_.tolerance);
  }

  Sizing SizeOnConcurrency(const ModelContext& context) {
    const int current = context.current_replicas;
    const double now = context.now_s;
    const double target = std::max(config_.target_concurrency, 1e-9);

    const double stable = context.demand.AverageConcurrency(config_.stable_window_s);
    const double inflight = context.demand.Inflight();
    const double short_avg = context.demand.AverageConcurrency(config_.panic_window_s);
    const double stable_rate = context.demand.ArrivalRate(config_.stable_window_s);
    // Arrivals over a quarter of the panic window, but never over less than one request's time:
    // over a shorter window, requests that arrived together (a clump) extrapolate to a rate that
    // would keep more of them in flight than arrived, and the panic would overshoot by the ratio
    // (2x for 0.5 s requests over 0.25 s in the coordinator's integration test).
    const double short_rate = context.demand.ArrivalRate(std::max(
        config_.panic_window_s / 4, std::min(seconds_per_request_, config_.panic_window_s)));

    // Concurrency is arrivals x time per request (Little's law). While nothing queues, the time per
    // request is the service time, and the panic below sizes on it: during a burst the queue
    // inflates measured concurrency with requests that more replicas would not have had to hold,
    // and sizing on that would keep adding replicas for as long as the new ones take to start.
    // The panic test uses the value learned before this cycle: see Learn() for when it is updated.
    bool learned = seconds_per_request_ > 0;
    double short_demand = learned ? short_rate * seconds_per_request_ : short_avg;

    // Panic: the short window asks for panic_threshold times the capacity we have, or the requests
    // in flight right now do (a queue that built up inside one report interval) and the arrivals
    // confirm at least half of that excess (a lone Poisson clump is not a burst). From zero
    // replicas any demand at all is a burst.
    const double capacity = current * target;
    const double confirm = 1 + (config_.panic_threshold - 1) / 2;
    const bool queue_building = inflight >= config_.panic_threshold * capacity;
    const bool over =
        current == 0 ? std::max(std::max(short_demand, short_avg), inflight) > 0
                     : std::max(short_demand, short_avg) >= config_.panic_threshold * capacity ||
                           (queue_building && short_demand >= confirm * capacity);
    UpdatePanic(over, now, current);
    // Little's law over a window (average concurrency / arrival rate) gives the time per request
    // only when the window's ends balance: as many requests in flight when it starts as when it
    // ends. A burst's first moments add arrivals that have not yet accumulated busy time, so the
    // ratio reads low (0.116 s for 0.5 s requests when 11 arrive at once into a 2 s window), and a
    // panic sized on it would stop at a third of what the load needs. So learn only on calm
    // windows: not panicking, no panic signal now, and no queue building in flight (a burst whose
    // arrivals are not yet confirmed is not calm either). The value learned before the burst is
    // kept through the panic.
    if (!panicking_ && !queue_building && stable_rate > 0 && stable > 0) {
      seconds_per_request_ = stable / stable_rate;
      learned = true;
      short_demand = short_rate * seconds_per_request_;
    }
    const double burst = std::max(short_demand, short_avg);

    int recommendation;
    why_ = Why{};
    if (panicking_) {
      // Size on arrivals x learned time per request; never lower while panicking (KPA keeps the
      // panic maximum). Without a learned service time, the measured burst is all there is.
      double demand = std::max(burst, inflight);
      if (learned) {
        // Requests queued beyond the steady demand need extra slots to drain in backlog_drain_s.
        const double steady = std::max(short_demand, stable_rate * seconds_per_request_);
        const double backlog = std::max(0.0, inflight - steady) + BacklogStillToCome(steady, now);
        demand = steady + backlog * DrainSlotsPerRequest();
      }
      // The same dead-band as below: without a learned time the demand is measured concurrency,
      // which reads 12.1 for 12 requests in flight and would add a replica as the burst ends.
      recommendation = std::max(ReplicasFor(demand, target, config_.tolerance), current);
      why_.cause = Cause::kPanic;
      why_.a = inflight;
      why_.b = short_rate;
    } else {
      recommendation = SizeOnStable(stable, target, current);
    }
    const double window_demand =
        learned ? context.demand.ArrivalRate(config_.panic_window_s) * seconds_per_request_
                : short_avg;
    return Sizing{recommendation, ReplicasFor(window_demand, target, config_.tolerance)};
  }

  // Requests that will queue beyond those in flight now, until the first replicas started by this
  // panic are ready: steady demand above what the replicas ready when it began serve, over what is
  // left of the start-up delay. Sizing only for the queue seen so far keeps adding replicas for as
  // long as new ones take to start, each step a report later than the one before; sizing at once
  // for the queue they will meet starts them at the panic's first decision (issue 20: on the step,
  // 18.7 -> 14.9 SLO-violation seconds at fewer replica-seconds than KPA). A target is a share of
  // a replica's capacity, which the policy does not know: demand up to the panic's confirmation
  // level (1.5x the target by default, a 67 % target's full capacity) is taken as served, since
  // counting from the target itself tripled a noise panic on the diurnal trace (1.04x -> 1.11x the
  // oracle's replica-seconds).
  double BacklogStillToCome(double steady, double now) const {
    const double target = std::max(config_.target_concurrency, 1e-9);
    const double headroom = 1 + (config_.panic_threshold - 1) / 2;
    const double excess = std::max(0.0, steady - headroom * panic_ready_ * target);
    const double left = std::max(0.0, config_.startup_delay_s - (now - panic_began_s_));
    return excess / seconds_per_request_ * left;
  }

  // Slots a queued request needs for the queue to drain within backlog_drain_s: its time per
  // request over the drain time, but never more than one slot each. A request longer than the
  // drain time cannot finish in it however many slots there are, and the queue is gone once every
  // queued request has started: 6 s LLM answers sized at 3 slots per queued request tripled the
  // panic for no fewer SLO-violation seconds (issue 20, bench/traces/llm_step.csv).
  double DrainSlotsPerRequest() const {
    return std::min(1.0, seconds_per_request_ / std::max(config_.backlog_drain_s, 1e-3));
  }

  // Scale-down stabilization, rate limits and bounds, whatever the sizing signal.
  Decision Stabilize(const Sizing& sizing, double now, int current) {
    const int recommendation =
        Clamp(sizing.recommendation, config_.min_replicas, config_.max_replicas);
    // Scale-down stabilization: the highest recommendation over the (possibly damped) delay, where
    // each moment recommends at least what its short window needed. A stable window averages an
    // oscillation away; remembering the short-window peaks keeps oscillating load on its peak
    // instead of dropping between peaks and paying a reversal (and a start-up delay) each time.
    Remember(now, std::max(recommendation,
                           Clamp(sizing.short_need, config_.min_replicas, config_.max_replicas)));
    int desired = recommendation;
    if (recommendation < current) {
      const int highest = HighestSince(now - down_delay_s_);
      desired = std::min(current, highest);
      if (desired > recommendation) {
        if (highest > HighestSince(now - config_.scale_down_delay_s)) last_damped_block_s_ = now;
        why_.held = highest;
        why_.held_for_s = down_delay_s_;
      }
    }

    // Rate limits both ways (KPA: up to ceil(rate x ready), down to floor(ready / rate)).
    if (current > 0) {
      const int up_cap =
          std::max(current + 1, static_cast<int>(std::ceil(current * config_.max_scale_up_rate)));
      const int down_floor =
          static_cast<int>(std::floor(current / std::max(config_.max_scale_down_rate, 1.0)));
      if (desired > up_cap) {
        desired = up_cap;
        why_.limited = Direction::kUp;
      } else if (desired < down_floor) {
        desired = down_floor;
        why_.limited = Direction::kDown;
      }
    }
    desired = Clamp(desired, config_.min_replicas, config_.max_replicas);

    Damp(DirectionOf(current, desired), now);
    last_desired_ = desired;
    return Conclude(desired, current);
  }

  enum class Cause : uint8_t { kStale, kPanic, kWithin, kStable };
  // What a decision's reason says, kept as numbers: formatting it is most of a decision's cost
  // (the coordinator decides for every model several times a second, and nearly every decision
  // repeats a hold), so the text is built only when the cause or the outcome changes.
  struct Why {
    Cause cause = Cause::kStable;
    double a = 0, b = 0;  // panic: in flight, rps; within / stable: average concurrency
    bool tokens = false;  // sized on tokens/s: `a` is a token rate
    int held = 0;         // scale-down held at this recommendation (0: not held)
    double held_for_s = 0;
    Direction limited = Direction::kHold;  // rate-limited up or down
    int desired = 0, current = 0;
    // The same outcome for the same cause: the reason already built still says why.
    bool SameAs(const Why& o) const {
      return cause == o.cause && tokens == o.tokens && held == o.held &&
             held_for_s == o.held_for_s && limited == o.limited && desired == o.desired &&
             current == o.current;
    }
  };

  Decision Conclude(int desired, int current) {
    why_.desired = desired;
    why_.current = current;
    const Direction direction = DirectionOf(current, desired);
    if (reason_.empty() || !why_.SameAs(reason_why_)) {
      reason_ = Explain(direction);
      reason_why_ = why_;
    }
    return Decision{desired, direction, reason_};
  }

  std::string Explain(Direction direction) const {
    const double target = std::max(config_.target_concurrency, 1e-9);
    char buf[320];
    size_t n = 0;
    auto add = [&](const char* fmt, auto... args) {
      if (n < sizeof(buf)) n += std::snprintf(buf + n, sizeof(buf) - n, fmt, args...);
    };
    if (why_.cause == Cause::kStale) {
      add("hold at %d: demand data missing, stale or restarted", why_.desired);
      return std::string(buf, std::min(n, sizeof(buf) - 1));
    }
    if (direction == Direction::kHold) add("%s", "hold: ");
    if (why_.tokens) {
      ExplainTokens(add);
    } else {
      ExplainConcurrency(add, target);
    }
    if (why_.held > 0) {
      add("; scale-down held: %d recommended within the last %.0fs", why_.held, why_.held_for_s);
    }
    if (why_.limited == Direction::kUp) add("; step limited to %.0fx", config_.max_scale_up_rate);
    if (why_.limited == Direction::kDown) {
      add("; step limited to 1/%.0f", config_.max_scale_down_rate);
    }
    return std::string(buf, std::min(n, sizeof(buf) - 1));
  }

  template <typename Add>
  void ExplainConcurrency(Add& add, double target) const {
    switch (why_.cause) {
      case Cause::kPanic:
        add("panic: %.0f in flight, %.1f rps x %.3fs, vs %.1fx capacity of %d", why_.a, why_.b,
            seconds_per_request_, config_.panic_threshold, why_.current);
        break;
      case Cause::kWithin:
        add("%.1f concurrency within %.0f%% of target %.1f x %d", why_.a, config_.tolerance * 100,
            target, why_.current);
        break;
      default:
        add("%.1f average concurrency over %.0fs / target %.1f", why_.a, config_.stable_window_s,
            target);
    }
  }

  template <typename Add>
  void ExplainTokens(Add& add) const {
    const double target = config_.target_tokens_per_second;
    switch (why_.cause) {
      case Cause::kPanic:
        add("panic: %.0f tokens/s over %.0fs vs %.1fx capacity of %d x %.0f tokens/s", why_.a,
            config_.panic_window_s, config_.panic_threshold, why_.current, target);
        break;
      case Cause::kWithin:
        add("%.0f tokens/s within %.0f%% of target %.0f tokens/s x %d", why_.a,
            config_.tolerance * 100, target, why_.current);
        break;
      default:
        add("%.0f tokens/s over %.0fs / target %.0f tokens/s", why_.a, config_.stable_window_s,
            target);
    }
  }

  // Scale-down stabilization history as a monotonic queue: times increase and recommendations
  // strictly decrease from front to back, because an entry followed by one at least as high can
  // never again be the highest of a window that ends now. The highest recommendation since any
  // time is then the first entry at or after it, and the queue holds at most one entry per
  // distinct replica count (not one per decision: 2,400 of them over 600 s at 250 ms).
  void Remember(double now, int recommendation) {
    while (!history_.empty() && history_.back().second <= recommendation) history_.pop_back();
    history_.emplace_back(now, recommendation);
    const double keep = std::max(config_.max_scale_down_delay_s, config_.scale_down_delay_s);
    while (history_.front().first < now - keep) history_.pop_front();
  }
  int HighestSince(double since) const {
    for (const auto& [t, r] : history_) {
      if (t >= since) return r;
    }
    return history_.back().second;
  }

  // A scale-up soon after a scale-down is a reversal: double the scale-down delay. Only the first
  // scale-up after a scale-down reverses it: a burst's panic takes several steps up, and counting
  // each one doubled the delay to its maximum after a single reversal (issue 20: 600 s held on
  // 6 s requests long after the burst was gone). Relax to the configured delay once no reversal
  // happened and no scale-down was held by the longer delay for max_scale_down_delay_s.
  void Damp(Direction direction, double now) {
    if (direction == Direction::kUp && reversible_ && now - last_down_s_ < config_.flap_window_s) {
      down_delay_s_ = std::min(std::max(config_.max_scale_down_delay_s, config_.scale_down_delay_s),
                               down_delay_s_ * 2);
      last_reversal_s_ = now;
    }
    if (direction != Direction::kHold) reversible_ = direction == Direction::kDown;
    if (direction == Direction::kDown) last_down_s_ = now;
    const double quiet = config_.max_scale_down_delay_s;
    if (now - last_reversal_s_ > quiet && now - last_damped_block_s_ > quiet) {
      down_delay_s_ = config_.scale_down_delay_s;
    }
  }

  ModelPolicyConfig config_;
  int last_desired_ = -1;
  bool panicking_ = false;
  double last_over_s_ = kNever;
  double panic_began_s_ = kNever;
  int panic_ready_ = 0;                         // replicas when the panic began
  double seconds_per_request_ = 0;              // learned while nothing queues
  std::deque<std::pair<double, int>> history_;  // (time, recommendation), see Remember()
  Why why_;                                     // the decision being made
  Why reason_why_;                              // what reason_ was built from
  std::string reason_;
  double down_delay_s_;
  double last_down_s_ = kNever;
  bool reversible_ = false;  // the last scale event was down: a scale-up now reverses it
  double last_reversal_s_ = kNever;
  double last_damped_block_s_ = kNever;
};

}  // namespace

std::unique_ptr<ModelPolicy> MakeTargetTracking(const ModelPolicyConfig& config) {
  return std::make_unique<TargetTracking>(config);
}

}  // namespace lagscale::coordinator::policy
