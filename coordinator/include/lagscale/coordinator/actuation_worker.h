#pragma once

// ActuationWorker: runs Actuators on threads of their own so that a slow or hanging API never
// delays the decision loop. Submit() queues a decision; for each target only the newest pending
// decision is applied. Transient failures are retried with exponential backoff (at least
// Retry-After), and every target is actuated at most once per `min_interval_s`. With several
// threads, different targets are written in parallel (a slow target holds up only itself), while
// each target is written by one thread at a time, its decisions in order. Results come back
// through PollResult() for the decision loop to show on /status.
// Thread safety: Submit(), RequestRead(), PollResult() and PollRead() may be called from any
// thread; each actuator only ever runs on its own worker thread.

#include <concurrentqueue/concurrentqueue.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "lagscale/coordinator/actuator.h"

namespace lagscale::coordinator {

struct WorkerOptions {
  double min_interval_s = 1;  // per-target rate limit
  double initial_backoff_s = 0.25;
  double max_backoff_s = 30;
  int max_attempts = 10;  // then the decision is reported as failed
};

struct ActuationReport {
  ScaleRequest request;
  ActuationResult result;
  int attempt = 1;
};

// Which model or server a read is for: the kind and the name, never a prefixed string.
struct TargetKey {
  TargetKind kind = TargetKind::kModel;
  std::string name;

  // "model/<name>" or "server/<name>", for logs.
  std::string ToString() const;
  bool operator<(const TargetKey& o) const {
    return std::tie(kind, name) < std::tie(o.kind, o.name);
  }
};

struct ReadReport {
  ScaleTarget target;
  TargetKey key;
  TargetReading reading;
};

class ActuationWorker {
 public:
  using ActuatorFactory = std::function<std::unique_ptr<Actuator>()>;
  static constexpr int kMaxThreads = 64;

  // One thread, writing through `actuator`.
  ActuationWorker(std::unique_ptr<Actuator> actuator, WorkerOptions options);
  // `threads` threads (1 to kMaxThreads), each with an actuator of its own from `make` (all made
  // before any thread starts; what `make` throws comes out of the constructor).
  ActuationWorker(const ActuatorFactory& make, int threads, WorkerOptions options);
  ~ActuationWorker();  // Stop()
  // Stops the threads once the calls in progress (if any) have returned; pending decisions are
  // dropped. After it, nothing this worker started can still reach the target. Idempotent.
  void Stop();
  ActuationWorker(const ActuationWorker&) = delete;
  ActuationWorker& operator=(const ActuationWorker&) = delete;

  const char* actuator_name() const { return name_; }
  void Submit(ScaleRequest request);
  // Asks the worker to read a target (current replicas, Seldon bounds); answered by PollRead().
  void RequestRead(TargetKey key, ScaleTarget target);
  bool PollResult(ActuationReport& out) { return results_.try_dequeue(out); }
  bool PollRead(ReadReport& out) { return reads_done_.try_dequeue(out); }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  // A decision waiting for its turn: the newest for its target, with the backoff it earned.
  struct Pending {
    ScaleRequest request;
    int attempts = 0;
    SteadyTime not_before;
    uint64_t version = 0;  // moves when a newer decision replaces the request
  };
  // Work a thread took under the lock, to do without it.
  struct Job {
    std::string key;
    Pending pending;                 // a decision to apply, or
    std::optional<ReadReport> read;  // a target to read
  };

  void StartThreads();
  void Run(Actuator& actuator);
  // The next job no other thread is doing for its target; none when nothing is due before
  // `wake` (then `wake` is when something will be). REQUIRES: mu_ held.
  bool Take(Job& job, SteadyTime& wake);
  struct LogLine {
    bool error = false;
    std::string text;  // empty: nothing to log
  };
  // Records an applied decision's result; returns the line to log. REQUIRES: mu_ held.
  LogLine Finish(const Job& job, ActuationResult& r);

  std::vector<std::unique_ptr<Actuator>> actuators_;
  const char* name_;
  WorkerOptions options_;
  moodycamel::ConcurrentQueue<ActuationReport> results_;
  moodycamel::ConcurrentQueue<ReadReport> reads_done_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;                       // guarded by mu_
  uint64_t versions_ = 0;                   // guarded by mu_
  std::map<std::string, Pending> pending_;  // newest decision per target (ScaleRequest::Key())
  std::map<std::string, SteadyTime> last_;  // last actuation per target
  std::map<TargetKey, ScaleTarget> reads_;  // reads asked for and not taken yet
  std::set<std::string> busy_;              // targets a thread is writing or reading now
  std::vector<std::thread> threads_;
};

}  // namespace lagscale::coordinator
