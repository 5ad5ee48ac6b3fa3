// Tests engine_leadership.cc: the decision loop under leader election.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>

#include "lagscale/coordinator/engine.h"
#include "support/coordinator_harness.h"
#include "support/inflight_policy.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;
using testing::InflightPolicy;

// A target with `replicas`; records every write that changes them. Like the Kubernetes actuator it
// skips decisions without a target (here the server's) and writes nothing when the target already
// has the replicas asked for.
class RecordingActuator final : public Actuator {
 public:
  struct Shared {
    std::mutex mu;
    std::vector<ScaleRequest> applied;  // guarded by mu
    std::atomic<int> replicas{5};
  };
  explicit RecordingActuator(Shared& s) : s_(s) {}
  const char* name() const override { return "recording"; }
  ActuationResult Apply(const ScaleRequest& r) override {
    if (!r.target) return ActuationResult{ActuationResult::Status::kSkipped, 0, -1, -1, ""};
    ActuationResult out;
    out.observed_replicas = r.to;
    if (s_.replicas == r.to) return out;
    std::lock_guard lock(s_.mu);
    s_.applied.push_back(r);
    s_.replicas = r.to;
    return out;
  }
  TargetReading Read(const ScaleTarget&) override {
    TargetReading t;
    t.ok = true;
    t.replicas = s_.replicas;
    return t;
  }

 private:
  Shared& s_;
};

class FakeLeadership final : public Leadership {
 public:
  bool Leading() const override { return leading; }
  uint64_t Term() const override { return term; }
  LeadershipStatus Status() const override {
    LeadershipStatus s;
    s.identity = "pod-a";
    s.leading = leading;
    return s;
  }
  // A new term the way LeaderElector::Became() takes it: the term first, then leading.
  void Acquire() {
    term = term + 1;
    leading = true;
  }
  std::atomic<bool> leading{false};
  std::atomic<uint64_t> term{0};
};

// InflightPolicy that first runs `before` (if set) on every decision: what another thread does
// while the engine is in the middle of a cycle.
class HookedPolicy final : public ModelPolicy {
 public:
  HookedPolicy(const ModelPolicyConfig& c, std::function<void()>& before)
      : inner_(c), before_(before) {}
  Decision Decide(const ModelContext& context) override {
    if (before_) before_();
    return inner_.Decide(context);
  }

 private:
  InflightPolicy inner_;
  std::function<void()>& before_;
};

constexpr const char* kConfig =
    "reportTTL: 5s\n"
    "defaults: {stableWindow: 20s, panicWindow: 2s}\n"
    "models:\n"
    "- name: m\n"
    "  maxReplicas: 10\n"
    "  target: {apiVersion: apps/v1, kind: Deployment, name: m, namespace: default}\n";

class EngineLeadershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerOptions w;
    w.min_interval_s = 0;
    worker_ = std::make_unique<ActuationWorker>(std::make_unique<RecordingActuator>(shared_), w);
    EngineOptions o;
    o.config = std::make_shared<Config>(ParseConfig(kConfig));
    o.clock = &clock_;
    o.actuator = worker_.get();
    o.reader = worker_.get();
    o.leadership = &leadership_;
    o.status_interval_s = 0;
    o.model_policy = [this](const ModelPolicyConfig& c) {
      return std::make_unique<HookedPolicy>(c, during_decision_);
    };
    engine_ = std::make_unique<Engine>(std::move(o));
  }
  // One second of time with a report from pod "a" showing `inflight`, then a decision.
  void Second(int64_t inflight) {
    clock_.AdvanceSeconds(1);
    v1::PodReport r;
    r.set_server("srv");
    r.set_pod("a");
    r.set_incarnation(1);
    r.set_sequence(++seq_);
    r.set_snapshot_monotonic_ns(clock_.MonotonicNs());
    auto* c = r.add_models();
    c->set_model("m");
    c->set_inflight(inflight);
    c->set_busy_seconds(busy_ += static_cast<double>(inflight));
    engine_->Enqueue(std::move(r));
    engine_->DrainReports();
    engine_->DecideNow();
  }
  std::vector<ScaleRequest> Applied() {
    std::lock_guard lock(shared_.mu);
    return shared_.applied;
  }
  nlohmann::json Model() {
    const auto doc = nlohmann::json::parse(StatusJson(*engine_->status()));
    return doc["models"][0];
  }
  // The worker reads replicas on its own thread while the test's clock is virtual: decide (without
  // moving the clock) until the read has arrived.
  bool AwaitReplicas(int n) {
    return Eventually(
        [&] {
          engine_->DecideNow();
          return Model()["current_replicas"] == n;
        },
        5s);
  }
  // Decides (a second at a time) until the worker has applied `n` decisions.
  bool UntilApplied(size_t n, int64_t inflight) {
    return Eventually(
        [&] {
          Second(inflight);
          return Applied().size() >= n;
        },
        5s);
  }

  std::function<void()> during_decision_;  // see HookedPolicy
  RecordingActuator::Shared shared_;
  std::unique_ptr<ActuationWorker> worker_;
  FakeLeadership leadership_;
  base::ManualClock clock_;
  std::unique_ptr<Engine> engine_;
  uint64_t seq_ = 0;
  double busy_ = 0;
};

TEST_F(EngineLeadershipTest, FollowerDecidesButNeverSubmits) {
  for (int i = 0; i < 5; ++i) Second(8);
  EXPECT_FALSE(engine_->Leading());
  EXPECT_EQ(Model()["desired_replicas"], 8);  // shown on /status ...
  EXPECT_FALSE(Eventually([&] { return !Applied().empty(); }, 500ms)) << "... never written";
}

TEST_F(EngineLeadershipTest, NewLeaderHoldsScaleDownUntilEveryPodHasReported) {
  leadership_.leading = true;
  leadership_.term = 1;
  // The target has 5 replicas; the only pod shows 2 in flight: the policy wants 2.
  Second(2);
  ASSERT_TRUE(AwaitReplicas(5));
  const auto status = nlohmann::json::parse(StatusJson(*engine_->status()));
  // Hold = reportTTL (5 s) + the longest window (20 s).
  EXPECT_NEAR(status["leadership"]["hand_over_hold_s"].get<double>(), 25, 1.1);
  for (int i = 0; i < 22; ++i) Second(2);
  EXPECT_TRUE(Applied().empty()) << "scaled down to " << Applied()[0].to << " during the hold";
  EXPECT_EQ(Model()["current_replicas"], 5);
  EXPECT_EQ(Model()["desired_replicas"], 5) << Model().dump();
  // After the hold, the same data may scale down.
  ASSERT_TRUE(UntilApplied(1, 2));
  EXPECT_EQ(Applied()[0].from, 5);
  EXPECT_EQ(Applied()[0].to, 2);
}

// The elector runs on its own thread: it can take the Lease between the start of a decision cycle
// and the moment the cycle would write. That cycle decided as a follower, on a follower's picture
// (here one pod of the target's 5 replicas, 2 in flight) and without the hand-over hold; it must
// not write. The next cycle starts the new term, and holds.
TEST_F(EngineLeadershipTest, LeadershipTakenInTheMiddleOfACycleWritesNothingFromIt) {
  for (int i = 0; i < 3; ++i) Second(2);
  ASSERT_TRUE(AwaitReplicas(5));
  ASSERT_EQ(Model()["desired_replicas"], 2);
  during_decision_ = [&] {
    leadership_.Acquire();
    during_decision_ = nullptr;
  };
  Second(2);
  ASSERT_TRUE(leadership_.leading);
  ASSERT_TRUE(AwaitReplicas(5));  // the new term reads the target again
  for (int i = 0; i < 5; ++i) Second(2);
  EXPECT_FALSE(Eventually([&] { return !Applied().empty(); }, 300ms))
      << "scaled down to " << Applied()[0].to << " when leadership came mid-cycle";
  EXPECT_EQ(Model()["desired_replicas"], 5) << Model().dump();
}

TEST_F(EngineLeadershipTest, NewLeaderScalesUpDuringTheHoldFromTheReplicasItRead) {
  shared_.replicas = 3;
  leadership_.leading = true;
  leadership_.term = 1;
  Second(7);
  EXPECT_TRUE(Applied().empty()) << "written before the replicas were read";
  ASSERT_TRUE(AwaitReplicas(3));
  ASSERT_TRUE(UntilApplied(1, 7));
  // The first write starts from the replicas read in this term, never from a guess.
  EXPECT_EQ(Applied()[0].from, 3);
  EXPECT_EQ(Applied()[0].to, 7);
}

TEST_F(EngineLeadershipTest, NewTermForgetsWhatAnEarlierTermSubmitted) {
  leadership_.leading = true;
  leadership_.term = 1;
  Second(6);
  ASSERT_TRUE(AwaitReplicas(5));
  ASSERT_TRUE(UntilApplied(1, 6));
  // Leadership moves away; meanwhile another leader sets the target to 3.
  leadership_.leading = false;
  for (int i = 0; i < 3; ++i) Second(6);
  shared_.replicas = 3;
  // This process leads again: it reads 3 and writes 6 again, although it "submitted" 6 before.
  leadership_.leading = true;
  leadership_.term = 2;
  Second(6);
  ASSERT_TRUE(AwaitReplicas(3));
  ASSERT_TRUE(UntilApplied(2, 6));
  EXPECT_EQ(Applied()[1].from, 3);
  EXPECT_EQ(Applied()[1].to, 6);
}

}  // namespace
}  // namespace lagscale::coordinator
