#pragma once

// Leader election for running several coordinator replicas: a coordination.k8s.io/v1 Lease,
// acquired and renewed as client-go's leaderelection package does it (LeaseLock):
//  - a candidate reads the Lease; it may take it when nobody holds it (holderIdentity empty) or
//    when the record it observed has not changed for leaseDurationSeconds of its OWN clock (the
//    holder's timestamps are never compared with the local clock);
//  - writes are optimistic: PUT with the resourceVersion just read (409 Conflict: someone else
//    wrote first, read again next time), POST when the Lease does not exist yet (404);
//  - leaseTransitions grows by one whenever the holder changes; acquireTime and renewTime are
//    MicroTime; the leader renews every retry period;
//  - the leader counts itself as leading only until `renew_deadline` after the start of its last
//    successful write. Every other candidate waits `lease_duration` (> renew_deadline) after it
//    observed that write, so a leader that cannot renew has stopped actuating before anyone else
//    can start;
//  - Stop() releases a held Lease (holderIdentity cleared, leaseDurationSeconds 1), as client-go's
//    ReleaseOnCancel does, so a standby takes over at its next retry instead of waiting.
//
// Thread safety: Leadership's methods may be called from any thread. Start()/Stop() from the
// owning thread. TryAcquireOrRenew() is the elector's step, public so tests can drive it by hand
// with a ManualClock; never call it while Start()ed.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "lagscale/base/clock.h"
#include "lagscale/coordinator/kubernetes.h"

namespace lagscale::coordinator {

// What /status and /metrics show about leadership.
struct LeadershipStatus {
  std::string identity;               // this process (holderIdentity when it leads)
  std::string lease;                  // "namespace/name"
  bool leading = false;               // may actuate now
  std::string holder;                 // holderIdentity as last observed; "" = nobody / unknown
  int64_t lease_transitions = 0;      // leaseTransitions as last observed
  uint64_t acquired = 0;              // times this process became leader
  uint64_t lost = 0;                  // times it stopped leading (renew deadline, release)
  int64_t leading_since_unix_ms = 0;  // 0 while not leading
  std::string last_error;             // the last failed Lease request, "" after a good attempt
};

// The seam the decision loop, the report service and the actuators ask: "may I act now?".
class Leadership {
 public:
  virtual ~Leadership() = default;
  // True while this process holds the Lease and is within its renew deadline.
  virtual bool Leading() const = 0;
  // Grows by one each time this process becomes leader: a new term means a fresh picture.
  virtual uint64_t Term() const = 0;
  virtual LeadershipStatus Status() const = 0;
};

struct LeaderElectionConfig {
  std::string lease_name = "lagscale-coordinator";
  std::string lease_namespace = "default";
  std::string identity;  // REQUIRES: not empty (the pod name)
  double lease_duration_s = 15;
  double renew_deadline_s = 10;
  double retry_period_s = 2;
};

// The longest lease duration, renew deadline or retry period. A standby waits up to the lease
// duration before it replaces a leader that died, so a lease of over an hour is no longer high
// availability (client-go's default is 15 s). The bound also keeps every conversion far from
// overflow: the lease in whole seconds into the Lease's int32 leaseDurationSeconds, the renew
// deadline into int64 nanoseconds, half of it (the call timeout) into steady_clock::duration.
inline constexpr double kMaxLeaderElectionSeconds = 3600;

// Throws std::invalid_argument naming the flag and the value when the durations are not ordered
// as client-go requires (lease_duration > renew_deadline > retry_period * 1.2 > 0), one is over
// kMaxLeaderElectionSeconds, the identity is empty, the Lease's name is not a Kubernetes object
// name (DNS subdomain) or its namespace not a namespace name (DNS label).
void ValidateLeaderElection(const LeaderElectionConfig& config);

class LeaderElector final : public Leadership {
 public:
  // Throws what ValidateLeaderElection and KubeApi throw. `clock` nullptr: the system clock.
  LeaderElector(LeaderElectionConfig config, const KubeConnection& connection,
                const base::Clock* clock = nullptr);
  ~LeaderElector() override;  // Stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  bool Leading() const override;
  uint64_t Term() const override { return term_.load(std::memory_order_acquire); }
  LeadershipStatus Status() const override;

  // Runs the election on its own thread until Stop().
  void Start();
  // Stops the thread; a leader stops leading first, then releases the Lease. Idempotent.
  void Stop();

  // One attempt (client-go's tryAcquireOrRenew): true when this process holds the Lease after it.
  bool TryAcquireOrRenew();
  // Gives the Lease up if this process holds it (the release Stop() does).
  void Release();
  // Ends leadership once the renew deadline has passed without a successful renewal.
  void CheckDeadline();

 private:
  struct State;
  void Run();
  void Became(bool leading);
  // The steps of TryAcquireOrRenew(): create a missing Lease, record a failure (returns false) or
  // an attempt that ended as the protocol means it to (a standby's read, a leader's write),
  // show the holder of the Lease last observed, and lead after a write begun at start_ns
  // succeeded with `reply`.
  bool Create(const std::string& now, int64_t start_ns);
  bool Fail(const std::string& error);
  void ClearError();
  void ShowHolder();
  bool Succeeded(const std::string& reply, int64_t start_ns);
  std::string LeasesPath() const;  // the namespace's Lease collection
  std::string LeasePath() const;   // our Lease
  double CallTimeoutSeconds() const;
  int DurationSeconds() const;  // the lease duration we write, whole seconds

  const LeaderElectionConfig config_;
  const base::Clock* clock_;
  std::unique_ptr<State> state_;  // the Lease client and what was observed; elector thread only
  std::atomic<bool> leading_{false};
  std::atomic<int64_t> valid_until_ns_{0};  // monotonic; leading only before this
  std::atomic<uint64_t> term_{0};
  mutable std::mutex mu_;  // guards status_
  LeadershipStatus status_;
  std::mutex stop_mu_;  // guards stop_ (with stop_cv_)
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Wraps an actuator so that it applies decisions only while `leadership` leads (a decision queued
// or being retried when leadership ended is skipped). REQUIRES: leadership outlives the result.
std::unique_ptr<Actuator> MakeLeaderOnlyActuator(std::unique_ptr<Actuator> inner,
                                                 const Leadership& leadership);

}  // namespace lagscale::coordinator
