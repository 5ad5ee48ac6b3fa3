// TargetTracking's decision and the one line that says why, built only when the cause or the
// outcome changes (target_tracking.h, Why).
#include <cstdio>

#include "policy/target_tracking.h"

namespace lagscale::coordinator::policy {

bool TargetTracking::Why::SameAs(const Why& o) const {
  return cause == o.cause && tokens == o.tokens && held == o.held && delay_s == o.delay_s &&
         slow_fall == o.slow_fall && clear_fall == o.clear_fall && fall_seen == o.fall_seen &&
         rose_from == o.rose_from && filled == o.filled && limited == o.limited &&
         desired == o.desired && current == o.current &&
         // a rise margin or a clear fall's noise margin is said (ExplainConcurrency)
         ((cause != Cause::kWithin && cause != Cause::kStable) || (b > 0) == (o.b > 0));
}

Decision TargetTracking::Conclude(int desired, int current) {
  why_.desired = desired;
  why_.current = current;
  const Direction direction = DirectionOf(current, desired);
  if (reason_.empty() || !why_.SameAs(reason_why_)) {
    reason_ = Explain(direction);
    reason_why_ = why_;
  }
  return Decision{desired, direction, reason_};
}

std::string TargetTracking::Explain(Direction direction) const {
  const double target = std::max(params_.target_concurrency, 1e-9);
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
    add("; scale-down held: %d recommended within the last %.0fs", why_.held, why_.delay_s);
  }
  if (why_.slow_fall) add("%s", "; slow fall beyond noise: one replica without the delay");
  if (why_.clear_fall) add("%s", "; arrivals fell beyond noise: down without the delay");
  if (why_.fall_seen) {
    add("; arrivals fell to a rate seen within %.0fs: an oscillation's low phase, held",
        params_.flap_window_s);
  }
  if (why_.rose_from > 0) {
    add("; arrivals fell within %.0fs of a rise from %d replicas: held", params_.flap_window_s,
        why_.rose_from);
  }
  if (why_.limited == Direction::kUp) add("; step limited to %.0fx", config_.max_scale_up_rate);
  if (why_.limited == Direction::kDown) {
    add("; step limited to 1/%.0f", params_.max_scale_down_rate);
  }
  return std::string(buf, std::min(n, sizeof(buf) - 1));
}

template <typename Add>
void TargetTracking::ExplainConcurrency(Add& add, double target) const {
  switch (why_.cause) {
    case Cause::kPanic:
      add("panic: %.0f in flight, %.1f rps x %.3fs, vs %.1fx capacity of %d", why_.a, why_.b,
          seconds_per_request_, why_.filled ? ConfirmLevel() : params_.panic_threshold,
          why_.current);
      if (why_.filled) add("%s", "; arrivals rose beyond noise");
      break;
    case Cause::kWithin:
      add("%.1f concurrency within %.0f%% of target %.1f x %d", why_.a, params_.tolerance * 100,
          target, why_.current);
      if (why_.b > 0) add(" (+%.1f for the window's noise)", why_.b);
      break;
    case Cause::kPoissonFloor:
      add("%.1f average concurrency over %.0fs + %.2f x its square root for Poisson peaks / "
          "%.1f per replica at full capacity",
          why_.a, params_.stable_window_s, params_.poisson_headroom, ConfirmLevel() * target);
      break;
    default:
      add("%.1f average concurrency over %.0fs", why_.a, params_.stable_window_s);
      if (why_.b > 0) add(" (+%.1f for the window's noise)", why_.b);
      add(" / target %.1f", target);
  }
}

template <typename Add>
void TargetTracking::ExplainTokens(Add& add) const {
  const double target = params_.target_tokens_per_second;
  switch (why_.cause) {
    case Cause::kPanic:
      add("panic: %.0f tokens/s over %.0fs vs %.1fx capacity of %d x %.0f tokens/s", why_.a,
          params_.panic_window_s, params_.panic_threshold, why_.current, target);
      break;
    case Cause::kWithin:
      add("%.0f tokens/s within %.0f%% of target %.0f tokens/s x %d", why_.a,
          params_.tolerance * 100, target, why_.current);
      break;
    default:
      add("%.0f tokens/s over %.0fs / target %.0f tokens/s", why_.a, params_.stable_window_s,
          target);
  }
}

}  // namespace lagscale::coordinator::policy
