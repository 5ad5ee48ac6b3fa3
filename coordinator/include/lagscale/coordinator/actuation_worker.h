#pragma once

// ActuationWorker: runs an Actuator on its own thread so that a slow or hanging API never delays
// the decision loop. Submit() queues a decision; for each target only the newest pending decision
// is applied. Transient failures are retried with exponential backoff (at least Retry-After), and
// every target is actuated at most once per `min_interval_s`. Results come back through
// PollResult() for the decision loop to show on /status.
// Thread safety: Submit() and PollResult() may be called from any thread; the actuator itself
// only ever runs on the worker thread.

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>

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
  ActuationWorker(std::unique_ptr<Actuator> actuator, WorkerOptions options);
  ~ActuationWorker();  // Stop()
  // Stops the thread once the call in progress (if any) has returned; pending decisions are
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
  struct Command {
    enum class Kind { kWake, kDecide, kRead };
    Kind kind = Kind::kWake;  // kWake only wakes the thread (to stop)
    ScaleRequest request;     // kDecide
    // kRead: what to read, and the key its answer carries.
    TargetKey key;
    ScaleTarget target;
  };
  using SteadyTime = std::chrono::steady_clock::time_point;
  // A decision waiting for its turn: the newest for its target, with the backoff it earned.
  struct Pending {
    ScaleRequest request;
    int attempts = 0;
    SteadyTime not_before;
  };
  // State of the worker thread only.
  struct RunState {
    std::map<std::string, Pending> pending;  // newest decision per target (ScaleRequest::Key())
    std::map<std::string, SteadyTime> last;  // last actuation per target
    std::map<TargetKey, ScaleTarget> reads;  // reads asked for since the last pass
  };

  void Run();
  // Blocks until a command arrives or the next pending decision is due; absorbs what came.
  void WaitForCommands(RunState& st);
  void Absorb(Command& c, RunState& st);
  void AnswerReads(RunState& st);
  void ApplyDue(RunState& st);
  // Applies one due decision; returns true when it is finished (applied, skipped or failed).
  bool ApplyOne(const std::string& key, Pending& p, RunState& st);

  std::unique_ptr<Actuator> actuator_;
  const char* name_;
  WorkerOptions options_;
  std::atomic<bool> stop_{false};
  moodycamel::BlockingConcurrentQueue<Command> commands_;
  moodycamel::ConcurrentQueue<ActuationReport> results_;
  moodycamel::ConcurrentQueue<ReadReport> reads_done_;
  std::thread thread_;
};

}  // namespace lagscale::coordinator
