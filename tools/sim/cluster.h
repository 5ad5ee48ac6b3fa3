#pragma once

// Cluster: the queueing model of one model's replicas on a virtual clock. Each ready replica
// serves `concurrency` requests at once; requests beyond that wait in one FIFO queue (the
// inference servers' queues seen from the sidecar as in-flight requests); a queued request whose
// wait exceeds the timeout is dropped and counted. New replicas become ready after the start-up
// delay; removed replicas finish what they serve but take nothing new.
// Thread safety: none; one instance per simulated policy run.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <random>
#include <utility>
#include <vector>

namespace lagscale::sim {

struct ClusterParams {
  int concurrency = 4;        // requests one replica serves at once
  double startup_s = 10;      // decision to ready (the shortest, with startup_max_s)
  double startup_max_s = 0;   // > startup_s: each replica's start-up is uniform in between
  uint64_t startup_seed = 1;  // the k-th replica started draws the same delay under every policy
  double slo_s = 0.2;         // queueing delay above this is an SLO violation
  double timeout_s = 30;      // a request queued this long gives up
  double grid_s = 0.1;        // resolution of the kept concurrency history
};

struct ClusterStats {
  double replica_seconds = 0;  // provisioned (starting + ready) replicas over time
  double slo_violation_s = 0;  // time the oldest queued request had waited more than the SLO
  uint64_t timed_out = 0;
  uint64_t arrivals = 0;
  uint64_t served = 0;
  double short_since_s = -1;   // start of the current stretch with ready capacity < load
  double longest_short_s = 0;  // the longest such stretch so far
};

class Cluster {
 public:
  Cluster(const ClusterParams& params, int initial_replicas);

  // Runs completions, readiness and timeouts up to `t` in time order, integrating everything.
  void AdvanceTo(double t);
  // The next internal event (completion, replica ready, queue timeout); +inf if none.
  double NextEvent() const;
  void Arrive(double service_s, double tokens = 0);
  // Sets the provisioned replicas: new ones start now; removals cancel starting ones first.
  void Scale(int desired);
  // Tracks whether ready capacity covers the offered load (for ready_s); call when either moves.
  void NoteLoad(double offered_load);

  double now() const { return now_; }
  int provisioned() const { return ready_ + static_cast<int>(starting_.size()); }
  int ready() const { return ready_; }
  double inflight() const { return busy_ + static_cast<double>(queue_.size()); }
  double integral() const { return integral_; }  // integral of in-flight over time
  double last_arrival_s() const { return last_arrival_s_; }
  uint64_t total_arrivals() const { return total_arrivals_; }  // cumulative, never reset
  double total_tokens() const { return total_tokens_; }  // output tokens of completed requests
  const ClusterStats& stats() const { return stats_; }
  // The longest a replica can take to start.
  double startup_bound_s() const { return std::max(params_.startup_s, params_.startup_max_s); }
  // Time-weighted average in-flight over [now - window, now] from the kept history.
  double AverageInflight(double window_s) const;
  // Starts measuring afresh (after the warm-up); the replicas and the queue stay as they are.
  void ResetStats();
  // Finishes open accounting (the current short stretch) at the end of a run.
  void Finish();

 private:
  struct Queued {
    double arrival_s;
    double service_s;
    double tokens;
  };
  using Completion = std::pair<double, double>;  // (time, output tokens)
  void Integrate(double to);
  void StartQueued();
  double IntegralAt(double t) const;

  ClusterParams params_;
  double now_ = 0;
  int ready_ = 0;
  double StartupDelay();

  std::deque<double> starting_;  // ready times, soonest first
  std::mt19937_64 startup_rng_;
  int busy_ = 0;
  std::deque<Queued> queue_;
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> completions_;
  double integral_ = 0;
  double last_arrival_s_ = -1;
  uint64_t total_arrivals_ = 0;
  double total_tokens_ = 0;
  double offered_load_ = 0;
  std::vector<double> history_;  // integral at k * grid_s
  ClusterStats stats_;
};

}  // namespace lagscale::sim
