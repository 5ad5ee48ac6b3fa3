#include "cluster.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lagscale::sim {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

Cluster::Cluster(const ClusterParams& params, int initial_replicas)
    : params_(params), ready_(initial_replicas), startup_rng_(params.startup_seed) {
  history_.push_back(0);
}

double Cluster::NextEvent() const {
  double next = kInf;
  if (!completions_.empty()) next = completions_.top().first;
  if (!starting_.empty()) next = std::min(next, starting_.front());
  if (!queue_.empty()) next = std::min(next, queue_.front().arrival_s + params_.timeout_s);
  return next;
}

void Cluster::Integrate(double to) {
  if (to <= now_) return;
  const double dt = to - now_;
  const double inflight_now = inflight();
  // Keep the integral on a fixed grid so windows can be read back later.
  for (double g = history_.size() * params_.grid_s; g <= to; g = history_.size() * params_.grid_s) {
    history_.push_back(integral_ + inflight_now * (g - now_));
  }
  integral_ += inflight_now * dt;
  stats_.replica_seconds += provisioned() * dt;
  if (!queue_.empty()) {
    const double late_from = queue_.front().arrival_s + params_.slo_s;
    stats_.slo_violation_s += std::max(0.0, to - std::max(now_, late_from));
  }
  now_ = to;
}

void Cluster::AdvanceTo(double t) {
  for (double e = NextEvent(); e <= t; e = NextEvent()) {
    Integrate(e);
    if (!completions_.empty() && completions_.top().first <= e) {
      // A token count arrives with the answer's `usage`, so it counts when the request ends.
      total_tokens_ += completions_.top().second;
      completions_.pop();
      --busy_;
      ++stats_.served;
    } else if (!starting_.empty() && starting_.front() <= e) {
      starting_.pop_front();
      ++ready_;
      NoteLoad(offered_load_);
    } else {
      queue_.pop_front();  // waited past the timeout
      ++stats_.timed_out;
    }
    StartQueued();
  }
  Integrate(t);
}

void Cluster::StartQueued() {
  while (!queue_.empty() && busy_ < ready_ * params_.concurrency) {
    const Queued q = queue_.front();
    queue_.pop_front();
    ++busy_;
    completions_.emplace(now_ + q.service_s, q.tokens);
  }
}

void Cluster::Arrive(double service_s, double tokens) {
  ++stats_.arrivals;
  ++total_arrivals_;
  last_arrival_s_ = now_;
  queue_.push_back(Queued{now_, service_s, tokens});
  StartQueued();
}

void Cluster::Scale(int desired) {
  desired = std::max(desired, 0);
  while (provisioned() < desired) {
    const double ready_at = now_ + StartupDelay();
    starting_.insert(std::upper_bound(starting_.begin(), starting_.end(), ready_at), ready_at);
  }
  while (provisioned() > desired && !starting_.empty()) starting_.pop_back();
  if (provisioned() > desired) ready_ = desired;  // removed replicas drain what they serve
  NoteLoad(offered_load_);
}

double Cluster::StartupDelay() {
  if (params_.startup_max_s <= params_.startup_s) return params_.startup_s;
  return std::uniform_real_distribution<double>(params_.startup_s,
                                                params_.startup_max_s)(startup_rng_);
}

void Cluster::NoteLoad(double offered_load) {
  offered_load_ = offered_load;
  const bool short_now = ready_ * params_.concurrency < offered_load_ - 1e-9;
  if (short_now && stats_.short_since_s < 0) stats_.short_since_s = now_;
  if (!short_now && stats_.short_since_s >= 0) {
    stats_.longest_short_s = std::max(stats_.longest_short_s, now_ - stats_.short_since_s);
    stats_.short_since_s = -1;
  }
}

void Cluster::ResetStats() {
  const bool short_now = stats_.short_since_s >= 0;
  stats_ = ClusterStats{};
  if (short_now) stats_.short_since_s = now_;
}

void Cluster::Finish() {
  if (stats_.short_since_s >= 0) {
    stats_.longest_short_s = std::max(stats_.longest_short_s, now_ - stats_.short_since_s);
    stats_.short_since_s = -1;
  }
}

double Cluster::IntegralAt(double t) const {
  if (t >= now_) return integral_;
  if (t <= 0) return 0;
  const double pos = t / params_.grid_s;
  const size_t k = static_cast<size_t>(pos);
  if (k + 1 >= history_.size()) {
    // Between the last grid point and now the in-flight count was constant.
    const double g = (history_.size() - 1) * params_.grid_s;
    return history_.back() + (integral_ - history_.back()) * (t - g) / std::max(now_ - g, 1e-12);
  }
  return history_[k] + (history_[k + 1] - history_[k]) * (pos - k);
}

double Cluster::AverageInflight(double window_s) const {
  const double from = std::max(0.0, now_ - window_s);
  if (now_ - from <= 0) return inflight();
  return (integral_ - IntegralAt(from)) / (now_ - from);
}

}  // namespace lagscale::sim
