#include "lagscale/coordinator/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <thread>

#include "support/coordinator_harness.h"
#include "support/inflight_policy.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;
using testing::InflightPolicy;

class MaxSizer final : public ServerSizer {
 public:
  Decision Decide(const ServerContext& ctx) override {
    int want = 1;
    for (const auto& m : ctx.models) want = std::max(want, m.desired_replicas);
    return Decision{want, Direction::kHold, "widest model"};
  }
};

class FakeActuator final : public Actuator {
 public:
  FakeActuator(ActuationResult result, TargetReading reading)
      : result_(result), reading_(reading) {}
  const char* name() const override { return "fake"; }
  ActuationResult Apply(const ScaleRequest&) override { return result_; }
  TargetReading Read(const ScaleTarget&) override { return reading_; }

 private:
  ActuationResult result_;
  TargetReading reading_;
};

v1::PodReport Report(const std::string& pod, uint64_t seq, int64_t snapshot_ns, int64_t inflight,
                     double busy, const std::string& model = "m") {
  v1::PodReport r;
  r.set_server("srv");
  r.set_pod(pod);
  r.set_incarnation(1);
  r.set_sequence(seq);
  r.set_snapshot_monotonic_ns(snapshot_ns);
  auto* c = r.add_models();
  c->set_model(model);
  c->set_inflight(inflight);
  c->set_busy_seconds(busy);
  return r;
}

class EngineTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Make(std::shared_ptr<const Config> config,
                               ActuationWorker* worker = nullptr,
                               ActuationWorker* reader = nullptr) {
    EngineOptions o;
    o.config = std::move(config);
    o.clock = &clock;
    o.actuator = worker;
    o.reader = reader;
    o.status_interval_s = 0;
    o.model_policy = [this](const ModelPolicyConfig& c) {
      ++policies_built;
      return std::make_unique<InflightPolicy>(c);
    };
    o.server_sizer = [](const ServerPolicyConfig&) { return std::make_unique<MaxSizer>(); };
    return std::make_unique<Engine>(std::move(o));
  }
  // Two reports a second apart from pod "a" with `inflight` requests in flight.
  void Feed(Engine& e, int64_t inflight, const std::string& model = "m") {
    for (int i = 0; i < 2; ++i) {
      clock.AdvanceSeconds(1);
      e.Enqueue(Report("a", ++seq_, clock.MonotonicNs(), inflight, busy_ += inflight, model));
    }
    e.DrainReports();
  }
  nlohmann::json Model(const Engine& e, const std::string& name) {
    const auto doc = nlohmann::json::parse(StatusJson(*e.status()));
    for (const auto& m : doc["models"]) {
      if (m["name"] == name) return m;
    }
    return nullptr;
  }

  base::ManualClock clock;
  int policies_built = 0;
  uint64_t seq_ = 0;
  double busy_ = 0;
};

TEST_F(EngineTest, UnlistedModelGetsDefaultsAndItsPodsServer) {
  auto engine = Make(std::make_shared<Config>(ParseConfig("defaults: {maxReplicas: 4}\n")));
  Feed(*engine, 3);
  engine->DecideNow();
  const auto m = Model(*engine, "m");
  EXPECT_EQ(m["desired_replicas"], 3);
  EXPECT_EQ(m["max_replicas"], 4);
  EXPECT_EQ(m["server"], "srv");
  EXPECT_EQ(m["last_decision"]["from"], 1);
  EXPECT_EQ(m["last_decision"]["to"], 3);
  const auto status = nlohmann::json::parse(StatusJson(*engine->status()));
  EXPECT_EQ(status["servers"][0]["name"], "srv");
  EXPECT_EQ(status["servers"][0]["desired_replicas"], 3);
  EXPECT_EQ(status["servers"][0]["reporting_pods"], 1);
}

TEST_F(EngineTest, ReloadKeepsDemandAndUnchangedPolicies) {
  auto engine = Make(std::make_shared<Config>(
      ParseConfig("models: [{name: m, maxReplicas: 8}, {name: n, maxReplicas: 8}]\n")));
  Feed(*engine, 5);
  engine->DecideNow();
  EXPECT_EQ(policies_built, 2);
  engine->Reload(std::make_shared<Config>(
      ParseConfig("models: [{name: m, maxReplicas: 8}, {name: n, maxReplicas: 2}]\n")));
  engine->DecideNow();
  EXPECT_EQ(policies_built, 3) << "only the changed model's policy is rebuilt";
  const auto m = Model(*engine, "m");
  EXPECT_EQ(m["inflight"], 5);  // aggregation survived the reload
  EXPECT_EQ(m["desired_replicas"], 5);
  EXPECT_EQ(Model(*engine, "n")["max_replicas"], 2);
}

TEST_F(EngineTest, FailedActuationShowsOnStatusAndKeepsCurrent) {
  ActuationResult forbidden;
  forbidden.status = ActuationResult::Status::kFailed;
  forbidden.http_status = 403;
  forbidden.error = "PATCH ...: HTTP 403 forbidden";
  ActuationWorker worker(std::make_unique<FakeActuator>(forbidden, TargetReading{}),
                         WorkerOptions{});
  auto engine = Make(std::make_shared<Config>(), &worker);
  Feed(*engine, 4);
  engine->DecideNow();
  ASSERT_TRUE(Eventually(
      [&] {
        engine->DecideNow();
        return Model(*engine, "m")["actuation"].is_object();
      },
      5s));
  const auto m = Model(*engine, "m");
  EXPECT_EQ(m["actuation"]["status"], "failed");
  EXPECT_EQ(m["actuation"]["http_status"], 403);
  EXPECT_EQ(m["desired_replicas"], 4);
  const auto status = nlohmann::json::parse(StatusJson(*engine->status()));
  EXPECT_EQ(status["actuator"]["healthy"], false);
  EXPECT_EQ(status["actuator"]["last_error"]["http_status"], 403);
  EXPECT_GE(status["actuator"]["failed"], 1);
}

// Answers a model's writes 403 until `forbidden_until` of them were made, then applies; counts
// them.
class ForbiddenThenOk final : public Actuator {
 public:
  explicit ForbiddenThenOk(int forbidden_until) : forbidden_until_(forbidden_until) {}
  const char* name() const override { return "forbidden-then-ok"; }
  ActuationResult Apply(const ScaleRequest& r) override {
    ActuationResult out;
    out.observed_replicas = r.to;
    if (r.kind != TargetKind::kModel) return out;  // the model's server scales freely
    if (++calls <= forbidden_until_) {
      out.observed_replicas = -1;
      out.status = ActuationResult::Status::kFailed;
      out.http_status = 403;
      out.error = "HTTP 403 forbidden";
      return out;
    }
    return out;
  }
  TargetReading Read(const ScaleTarget&) override { return TargetReading{}; }
  std::atomic<int> calls{0};

 private:
  const int forbidden_until_;
};

// Level-triggered: a write refused for good (an RBAC rule added late, a target created after the
// first decision) is written again every 30 s while the decision stands, until it lands.
TEST_F(EngineTest, AFailedWriteIsRetriedWhileItsDecisionStands) {
  auto actuator = std::make_unique<ForbiddenThenOk>(2);
  ForbiddenThenOk& calls = *actuator;
  ActuationWorker worker(std::move(actuator), WorkerOptions{});
  auto engine = Make(std::make_shared<Config>(), &worker);
  const auto decide_until = [&](const std::string& status) {
    return Eventually(
        [&] {
          engine->DecideNow();
          const auto actuation = Model(*engine, "m")["actuation"];
          return actuation.is_object() && actuation["status"] == status;
        },
        5s);
  };
  Feed(*engine, 4);
  engine->DecideNow();
  ASSERT_TRUE(decide_until("failed"));
  EXPECT_EQ(calls.calls, 1);
  for (int i = 0; i < 14; ++i) Feed(*engine, 4);  // 28 s: not yet
  engine->DecideNow();
  EXPECT_EQ(calls.calls, 1);
  Feed(*engine, 4);  // 30 s after the failure: written again, refused again
  ASSERT_TRUE(Eventually(
      [&] {
        engine->DecideNow();
        return calls.calls == 2;
      },
      5s));
  for (int i = 0; i < 15; ++i) Feed(*engine, 4);
  ASSERT_TRUE(decide_until("ok"));
  EXPECT_EQ(calls.calls, 3);
  EXPECT_EQ(Model(*engine, "m")["current_replicas"], 4);
  EXPECT_EQ(Model(*engine, "m")["last_decision"]["to"], 4);  // one decision, written three times
}

// A flood of reports cannot take the coordinator's memory or its decisions: the queue to the
// decision loop is bounded (what does not fit is shed, unacknowledged), and draining it stops
// when the next decision is due.
TEST_F(EngineTest, TheReportQueueIsBoundedAndDrainingYieldsToDecisions) {
  auto engine = Make(std::make_shared<Config>());
  v1::PodReport big = Report("a", 1, 0, 0, 0);
  for (int i = 0; i < 999; ++i) big.add_models()->set_model("model-" + std::to_string(i));
  const size_t bytes = big.ByteSizeLong();
  size_t queued = 0;
  while (engine->Enqueue(v1::PodReport(big))) ++queued;
  EXPECT_EQ(queued, Engine::kMaxQueuedReportBytes / bytes);
  EXPECT_FALSE(engine->Enqueue(v1::PodReport(big)));
  // The clock stands still here, so a deadline of now stops after one batch of 256.
  EXPECT_EQ(engine->DrainReports(clock.MonotonicNs()), 256u);
  EXPECT_TRUE(engine->Enqueue(v1::PodReport(big))) << "room again once reports are applied";
  EXPECT_EQ(engine->DrainReports(), queued - 256 + 1);
}

// gRPC runs one stream's callbacks on any of its threads. Reports a stream queues through its
// Producer are applied in order all the same; without it, the queue would hand them over one
// thread's batch at a time, and every report behind a newer one would be ignored as out of order.
TEST_F(EngineTest, AStreamsReportsAreAppliedInOrderWhicheverThreadQueuedThem) {
  auto engine = Make(std::make_shared<Config>());
  Engine::Producer stream(*engine);
  constexpr int kReports = 200;
  std::binary_semaphore turn[2]{std::binary_semaphore(1), std::binary_semaphore(0)};
  auto queue_every_other = [&](int parity) {
    for (int seq = 1 + parity; seq <= kReports; seq += 2) {
      turn[parity].acquire();
      clock.AdvanceSeconds(1);
      EXPECT_TRUE(stream.Enqueue(Report("a", seq, clock.MonotonicNs(), 1, seq)));
      turn[1 - parity].release();
    }
  };
  std::thread odd(queue_every_other, 0), even(queue_every_other, 1);
  odd.join();
  even.join();
  EXPECT_EQ(engine->DrainReports(), size_t{kReports});
  engine->DecideNow();
  const auto reports = nlohmann::json::parse(StatusJson(*engine->status()))["reports"];
  EXPECT_EQ(reports["applied"], kReports);
  EXPECT_EQ(reports["ignored"], 0);
}

TEST_F(EngineTest, SeldonModeTakesBoundsFromTheResources) {
  TargetReading reading;
  reading.ok = true;
  reading.replicas = 2;
  reading.min_replicas = 2;
  reading.max_replicas = 3;
  ActuationWorker reader(std::make_unique<FakeActuator>(ActuationResult{}, reading),
                         WorkerOptions{});
  auto engine =
      Make(std::make_shared<Config>(ParseConfig("seldon: {enabled: true, namespace: ns}\n")),
           nullptr, &reader);
  Feed(*engine, 9);
  engine->DecideNow();  // first sight of the model: its Model resource is read
  ASSERT_TRUE(Eventually(
      [&] {
        engine->DecideNow();
        return Model(*engine, "m")["max_replicas"] == 3;
      },
      5s));
  const auto m = Model(*engine, "m");
  EXPECT_EQ(m["min_replicas"], 2);
  EXPECT_EQ(m["desired_replicas"], 3);  // 9 in flight, capped by the Model's maxReplicas
}

TEST_F(EngineTest, ExpiredPodHoldsTheDecision) {
  auto engine = Make(std::make_shared<Config>(ParseConfig("reportTTL: 3s\n")));
  Feed(*engine, 6);
  engine->DecideNow();
  EXPECT_EQ(Model(*engine, "m")["desired_replicas"], 6);
  clock.AdvanceSeconds(5);  // the only pod falls silent past the TTL
  engine->DecideNow();
  const auto m = Model(*engine, "m");
  EXPECT_EQ(m["pods"].size(), 0u);
  EXPECT_EQ(m["fresh"], false);
  EXPECT_EQ(m["desired_replicas"], 6) << "missing data must not scale down";
}

}  // namespace
}  // namespace lagscale::coordinator
