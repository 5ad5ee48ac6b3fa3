// Engine::PublishScalerView (coordinator/src/engine_scaler_view.cc) and the one-writer rule in
// the engine: what KEDA is told, and that the coordinator never writes a KEDA-scaled target.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "lagscale/coordinator/engine.h"
#include "support/coordinator_harness.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;

class RecordingActuator final : public Actuator {
 public:
  const char* name() const override { return "recording"; }
  ActuationResult Apply(const ScaleRequest& r) override {
    std::lock_guard lock(mu);
    applied.push_back(r.name);
    ActuationResult ok;
    ok.status = ActuationResult::Status::kOk;
    return ok;
  }
  TargetReading Read(const ScaleTarget&) override { return TargetReading{}; }
  std::vector<std::string> Applied() {
    std::lock_guard lock(mu);
    return applied;
  }
  std::mutex mu;
  std::vector<std::string> applied;
};

v1::PodReport Report(uint64_t seq, int64_t snapshot_ns, int64_t inflight, double busy,
                     int64_t last_request_unix_ms) {
  v1::PodReport r;
  r.set_server("srv");
  r.set_pod("pod-a");
  r.set_incarnation(7);
  r.set_sequence(seq);
  r.set_snapshot_monotonic_ns(snapshot_ns);
  for (const char* model : {"iris", "bert"}) {
    auto* c = r.add_models();
    c->set_model(model);
    c->set_inflight(inflight);
    c->set_arrivals(static_cast<uint64_t>(inflight));
    c->set_busy_seconds(busy);
    c->set_last_request_unix_ms(last_request_unix_ms);
  }
  return r;
}

constexpr char kConfig[] = R"(defaults: {targetConcurrency: 2, idleWindow: 5s}
models:
  - name: iris
    actuator: keda
    targetConcurrency: 4
  - name: bert
  - name: quiet
    actuator: keda
)";

class EngineScalerViewTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Make(ActuationWorker* worker = nullptr) {
    EngineOptions o;
    o.config = std::make_shared<Config>(ParseConfig(kConfig));
    o.clock = &clock;
    o.actuator = worker;
    o.status_interval_s = 0;
    o.scaler_view = &hub;
    return std::make_unique<Engine>(std::move(o));
  }
  void Send(Engine& e, int64_t inflight) {
    clock.AdvanceSeconds(1);
    busy_ += static_cast<double>(inflight);
    const int64_t unix_ms = clock.UnixNs() / 1'000'000;
    if (inflight > 0) last_request_ms_ = unix_ms;
    e.Enqueue(Report(++seq_, clock.MonotonicNs(), inflight, busy_, last_request_ms_));
    e.DrainReports();
    e.DecideNow();
  }
  base::ManualClock clock;
  ScalerViewHub hub;
  uint64_t seq_ = 0;
  double busy_ = 0;
  int64_t last_request_ms_ = 0;
};

TEST_F(EngineScalerViewTest, FreshOnlyAfterAPodReportedTwiceSinceStart) {
  auto engine = Make();
  engine->DecideNow();
  EXPECT_FALSE(hub.Latest()->fresh);
  EXPECT_EQ(hub.Latest()->not_fresh_reason, "no sidecar has reported within reportTTL");
  Send(*engine, 3);  // a baseline only: the coordinator cannot know any rate yet
  EXPECT_FALSE(hub.Latest()->fresh);
  EXPECT_EQ(hub.Latest()->not_fresh_reason,
            "no sidecar has reported twice since the coordinator started");
  Send(*engine, 3);
  const auto view = hub.Latest();
  ASSERT_TRUE(view->fresh);
  const ScalerTargetView& iris = view->models.at("iris");
  EXPECT_TRUE(iris.keda && iris.reported && iris.available && iris.active);
  EXPECT_EQ(iris.inflight, 3);
  EXPECT_NEAR(iris.concurrency, 3, 1e-9);  // exactly 3 busy-seconds per second
  EXPECT_EQ(iris.target_concurrency, 4);
  const auto status = nlohmann::json::parse(StatusJson(*engine->status()));
  for (const auto& m : status["models"]) {
    if (m["name"] == "iris") {
      EXPECT_EQ(m["desired_replicas"], iris.desired);
    }
  }
  // A configured model nobody reports: known target, not reported (KEDA is told idle).
  const ScalerTargetView& quiet = view->models.at("quiet");
  EXPECT_FALSE(quiet.reported);
  EXPECT_EQ(quiet.target_concurrency, 2);
}

TEST_F(EngineScalerViewTest, ActivityChangeMovesTheGenerationAndIdleWindowEndsIt) {
  auto engine = Make();
  Send(*engine, 2);
  Send(*engine, 2);
  ASSERT_TRUE(hub.Latest()->models.at("iris").active);
  const uint64_t busy_generation = hub.activity_generation();
  Send(*engine, 0);  // nothing in flight, but a request 1 s ago is inside the 5 s idle window
  EXPECT_TRUE(hub.Latest()->models.at("iris").active);
  EXPECT_EQ(hub.activity_generation(), busy_generation);
  for (int i = 0; i < 5; ++i) Send(*engine, 0);
  EXPECT_FALSE(hub.Latest()->models.at("iris").active);
  EXPECT_GT(hub.activity_generation(), busy_generation);
}

TEST_F(EngineScalerViewTest, KedaTargetsAreShownButNeverWrittenByTheActuator) {
  auto actuator = std::make_unique<RecordingActuator>();
  RecordingActuator* recording = actuator.get();
  ActuationWorker worker(std::move(actuator), WorkerOptions{});
  auto engine = Make(&worker);
  for (int i = 0; i < 4; ++i) Send(*engine, 9);  // 9 in flight: both models want more replicas
  ASSERT_TRUE(Eventually(
      [&] {
        engine->DecideNow();
        const auto applied = recording->Applied();
        return std::find(applied.begin(), applied.end(), "bert") != applied.end();
      },
      5s));
  const auto applied = recording->Applied();
  EXPECT_EQ(std::count(applied.begin(), applied.end(), "iris"), 0);
  const auto status = nlohmann::json::parse(StatusJson(*engine->status()));
  for (const auto& m : status["models"]) {
    if (m["name"] == "iris") {
      EXPECT_EQ(m["actuated_by"], "keda");
      EXPECT_GT(m["desired_replicas"], 1);  // decided and shown, for KEDA to read
    }
    if (m["name"] == "bert") {
      EXPECT_EQ(m["actuated_by"], "coordinator");
    }
  }
}

TEST_F(EngineScalerViewTest, StatusShowsWhatKedaReadPerModel) {
  auto engine = Make();
  hub.RecordRead(
      KedaRead{"model", "iris", "desiredReplicas", "GetMetrics", "ml/iris", "ok", 3, 1234});
  hub.RecordRead(
      KedaRead{"model", "ghost", "inflight", "GetMetrics", "ml/ghost", "UNAVAILABLE", 0, 1235});
  engine->DecideNow();
  const auto status = nlohmann::json::parse(StatusJson(*engine->status()));
  for (const auto& m : status["models"]) {
    if (m["name"] == "iris") {
      EXPECT_EQ(m["keda"]["value"], 3);
      EXPECT_EQ(m["keda"]["metric"], "desiredReplicas");
      EXPECT_EQ(m["keda"]["scaled_object"], "ml/iris");
    }
    if (m["name"] == "bert") {
      EXPECT_TRUE(m["keda"].is_null());
    }
  }
  ASSERT_EQ(status["keda"].size(), 2u);
  EXPECT_EQ(status["keda"][0]["name"], "ghost");
  EXPECT_EQ(status["keda"][0]["status"], "UNAVAILABLE");
  EXPECT_TRUE(status["keda"][0]["value"].is_null());
}

}  // namespace
}  // namespace lagscale::coordinator
