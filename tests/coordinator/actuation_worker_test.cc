// The actuation worker's threads: a target whose writes hang holds up only itself, no target is
// ever written by two threads at once, and each target's decisions land in the order they came
// (the newest last), with an actuator of its own per thread.
#include "lagscale/coordinator/actuation_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

// What every actuator of one worker shares: a gate the target "slow" waits at, and per target
// the writes in progress (to catch two at once) and the replica counts written, in order.
struct Recorder {
  std::mutex mu;
  std::condition_variable changed;
  bool slow_released = false;
  bool slow_waiting = false;
  std::map<std::string, int> writing;
  std::map<std::string, int> most_at_once;
  std::map<std::string, std::vector<int>> written;
  std::set<const void*> actuators_used;
};

class RecordingActuator final : public Actuator {
 public:
  explicit RecordingActuator(Recorder& r) : r_(r) {}
  const char* name() const override { return "recording"; }
  ActuationResult Apply(const ScaleRequest& request) override {
    std::unique_lock lock(r_.mu);
    r_.actuators_used.insert(this);
    int& now = r_.writing[request.name];
    ++now;
    r_.most_at_once[request.name] = std::max(r_.most_at_once[request.name], now);
    if (request.name == "slow") {
      r_.slow_waiting = true;
      r_.changed.notify_all();
      r_.changed.wait(lock, [&] { return r_.slow_released; });
    } else {
      // Long enough for another thread to try the same target meanwhile.
      lock.unlock();
      std::this_thread::sleep_for(2ms);
      lock.lock();
    }
    r_.written[request.name].push_back(request.to);
    --r_.writing[request.name];
    r_.changed.notify_all();
    ActuationResult out;
    out.observed_replicas = request.to;
    return out;
  }

 private:
  Recorder& r_;
};

ScaleRequest Decision(const std::string& model, int to) {
  ScaleRequest r;
  r.name = model;
  r.to = to;
  return r;
}

// Collects results until `done` holds for them, or 10 s pass.
template <typename Done>
std::vector<ActuationReport> ResultsUntil(ActuationWorker& worker, Done done) {
  std::vector<ActuationReport> got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done(got) && std::chrono::steady_clock::now() < deadline) {
    ActuationReport r;
    if (worker.PollResult(r)) {
      got.push_back(std::move(r));
    } else {
      std::this_thread::yield();
    }
  }
  return got;
}

constexpr WorkerOptions kNoRateLimit{0, 0.01, 0.05, 5};

TEST(ActuationWorkerThreadsTest, ATargetWhoseWriteHangsHoldsUpOnlyItself) {
  Recorder rec;
  ActuationWorker worker([&] { return std::make_unique<RecordingActuator>(rec); }, 4, kNoRateLimit);
  worker.Submit(Decision("slow", 3));
  {
    std::unique_lock lock(rec.mu);
    ASSERT_TRUE(rec.changed.wait_for(lock, 10s, [&] { return rec.slow_waiting; }));
  }
  for (const char* model : {"a", "b", "c", "d", "e"}) worker.Submit(Decision(model, 2));
  const auto got = ResultsUntil(worker, [](const auto& g) { return g.size() >= 5; });
  std::set<std::string> applied;
  for (const auto& r : got) applied.insert(r.request.name);
  EXPECT_EQ(applied, (std::set<std::string>{"a", "b", "c", "d", "e"}))
      << "the other targets are written while one write hangs";
  {
    std::lock_guard lock(rec.mu);
    EXPECT_TRUE(rec.written["slow"].empty());
    rec.slow_released = true;
  }
  rec.changed.notify_all();
  const auto slow = ResultsUntil(worker, [](const auto& g) { return !g.empty(); });
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].request.name, "slow");
  EXPECT_EQ(slow[0].result.status, ActuationResult::Status::kOk);
}

TEST(ActuationWorkerThreadsTest, EachTargetIsWrittenByOneThreadAtATimeInTheOrderItsDecisionsCame) {
  Recorder rec;
  rec.slow_released = true;
  ActuationWorker worker([&] { return std::make_unique<RecordingActuator>(rec); }, 4, kNoRateLimit);
  const std::vector<std::string> models = {"m1", "m2", "m3"};
  constexpr int kDecisions = 200;
  for (int to = 1; to <= kDecisions; ++to) {
    for (const auto& m : models) worker.Submit(Decision(m, to));
    if (to % 20 == 0) std::this_thread::sleep_for(1ms);  // let some land between the bursts
  }
  // Every target ends at its newest decision.
  std::unique_lock lock(rec.mu);
  ASSERT_TRUE(rec.changed.wait_for(lock, 10s, [&] {
    for (const auto& m : models) {
      if (rec.written[m].empty() || rec.written[m].back() != kDecisions) return false;
    }
    return true;
  }));
  for (const auto& m : models) {
    EXPECT_EQ(rec.most_at_once[m], 1) << m;
    const std::vector<int>& w = rec.written[m];
    // Decisions replaced while waiting are skipped; none is written after a newer one.
    EXPECT_TRUE(std::is_sorted(w.begin(), w.end()) &&
                std::adjacent_find(w.begin(), w.end()) == w.end())
        << m << " written out of order";
  }
  EXPECT_GT(rec.actuators_used.size(), 1u) << "each thread writes through an actuator of its own";
}

TEST(ActuationWorkerThreadsTest, AThreadCountOutsideItsRangeIsRefusedNamingIt) {
  Recorder rec;
  const auto make = [&] { return std::make_unique<RecordingActuator>(rec); };
  for (int threads : {0, ActuationWorker::kMaxThreads + 1}) {
    try {
      ActuationWorker worker(make, threads, kNoRateLimit);
      ADD_FAILURE() << threads << " threads accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(threads)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lagscale::coordinator
