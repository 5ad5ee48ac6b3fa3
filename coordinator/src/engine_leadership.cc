// The decision loop under leader election: only the leader actuates, and a new leader holds
// scale-down until its picture of the demand is as complete as its predecessor's was.
//
// Why the hold is as long as it is: a new leader learns about a pod only when the pod's sidecar
// reconnects, and its first report is a baseline (cumulative counters carry no history), so for a
// while the leader sees some pods and not others and its windows undercount. Any leader treats a
// pod silent for reportTTL as gone, so after reportTTL every live pod has reported; after a further
// longest policy window, every window a policy reads lies entirely after that point. Until then a
// decision may go up (partial data only undercounts demand) but never down, and nothing at all is
// written for a target whose replicas this term has not read yet.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine_state.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {

bool Engine::Leading() const { return !options_.leadership || options_.leadership->Leading(); }

double Engine::HandOverSeconds() const {
  // Target tracking also compares its stable window with the two ending now (a slow fall, see
  // TargetTracking::SlowFall), which this does not wait for: the older half undercounting can only
  // make the load look less falling, which keeps the scale-down delay.
  auto longest = [](const ModelPolicyConfig& c) {
    return std::max({c.tracking.stable_window_s, c.tracking.panic_window_s, c.lag.lag_window_s});
  };
  double window = longest(config_->defaults);
  for (const auto& m : config_->models) window = std::max(window, longest(m.policy));
  for (const auto& [name, e] : models_) window = std::max(window, longest(e->config));
  return config_->report_ttl_s + window;
}

bool Engine::ReplicasUnread(const std::optional<ScaleTarget>& target, int observed) const {
  // Replicas are read by the actuator's worker (see AbsorbResults); without one, nothing to wait.
  const bool readable = options_.actuator && options_.reader == options_.actuator;
  return readable && target && observed < 0;
}

void Engine::HoldForHandOver(Decision& d, int current, bool replicas_unread) const {
  if (NowNs() >= hand_over_until_ns_) return;
  if (replicas_unread) {
    d.desired = current;
    d.direction = Direction::kHold;
    d.reason = "hold: new leader, replicas not read yet";
  } else if (d.desired < current) {
    d.desired = current;
    d.direction = Direction::kHold;
    d.reason = "hold: new leader, no scale-down until every pod has reported (" + d.reason + ")";
  }
}

void Engine::FollowLeadership(int64_t now_ns) {
  if (!options_.leadership) return;
  // Leading before the term: the elector counts a new term before it starts leading
  // (LeaderElector::Became()), so a cycle that begins leading also begins that term's hold.
  cycle_leads_ = options_.leadership->Leading();
  if (options_.metrics) {
    const LeadershipStatus s = options_.leadership->Status();
    options_.metrics->SetLeadership(s.leading, s.acquired + s.lost);
  }
  const uint64_t term = options_.leadership->Term();
  if (term == term_) return;
  term_ = term;
  // Another leader may have changed every target since this process last led: forget what it
  // knew (observed, desired, submitted, policy history) and read the targets again.
  const double hold_s = HandOverSeconds();
  hand_over_until_ns_ = now_ns + static_cast<int64_t>(hold_s * 1e9);
  for (auto& [name, e] : models_) {
    ForgetTerm(*e);
    e->policy = options_.model_policy(e->config);
  }
  for (auto& [name, e] : servers_) {
    ForgetTerm(*e);
    e->sizer = options_.server_sizer(e->config);
  }
  spdlog::info("leading (term {}): no scale-down for {:.0f}s, until every pod has reported", term,
               hold_s);
}

// Only a cycle that began as the leader writes, and only while it still leads in the same term.
// The elector runs on its own thread and can take the Lease in the middle of a cycle: that cycle
// decided on a follower's picture without the new term's hold (the standby that took over from a
// killed leader scaled a model from 5 to 3 replicas, seeing one pod of two). The next cycle
// begins the term and holds.
bool Engine::WritesThisCycle() const {
  if (!options_.leadership) return true;
  return cycle_leads_ && options_.leadership->Leading() && options_.leadership->Term() == term_;
}

void Engine::ForgetTerm(TargetEntry& e) {
  e.observed = e.desired = e.submitted = -1;
  e.actuation = ActuationState{};
  RequestRead(e);
}

}  // namespace lagscale::coordinator
