// The decision loop's history: one sample per wall-clock second of every model and server, with
// the loop's decisions marked, served by the history route.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lagscale/coordinator/engine.h"
#include "lagscale/coordinator/history_json.h"

namespace lagscale::coordinator {
namespace {

// desired = ceil(in-flight), so a burst produces a decision the history must show.
class FollowInflight final : public ModelPolicy {
 public:
  Decision Decide(const ModelContext& ctx) override {
    const int want = std::max(1, static_cast<int>(std::ceil(ctx.demand.Inflight())));
    return Decision{want, Direction::kHold, "inflight " + std::to_string(want)};
  }
};

class EngineHistoryTest : public ::testing::Test {
 protected:
  EngineHistoryTest() {
    EngineOptions o;
    o.config = std::make_shared<Config>(ParseConfig("windows: [1s, 5s]\n"));
    o.clock = &clock_;
    o.model_policy = [](const ModelPolicyConfig&) { return std::make_unique<FollowInflight>(); };
    engine_ = std::make_unique<Engine>(std::move(o));
  }
  // One second: pod "a" reports `inflight` requests of model "iris" busy all second, then a cycle.
  void Second(int64_t inflight) {
    clock_.AdvanceSeconds(1);
    busy_ += static_cast<double>(inflight);
    arrivals_ += static_cast<uint64_t>(inflight);
    v1::PodReport r;
    r.set_server("srv");
    r.set_pod("a");
    r.set_incarnation(1);
    r.set_sequence(++seq_);
    r.set_snapshot_monotonic_ns(clock_.MonotonicNs());
    auto* c = r.add_models();
    c->set_model("iris");
    c->set_inflight(inflight);
    c->set_busy_seconds(busy_);
    c->set_arrivals(arrivals_);
    engine_->Enqueue(std::move(r));
    engine_->DrainReports();
    engine_->DecideNow();
  }
  nlohmann::json Get(const std::string& path, const std::string& query = "") {
    auto reply = HistoryRoute(engine_->model_history(), engine_->server_history(), path, query);
    EXPECT_TRUE(reply);
    if (!reply) return nullptr;
    status_ = reply->status;
    return nlohmann::json::parse(reply->body);
  }

  base::ManualClock clock_;
  std::unique_ptr<Engine> engine_;
  uint64_t seq_ = 0, arrivals_ = 0;
  double busy_ = 0;
  int status_ = 0;
};

TEST_F(EngineHistoryTest, ModelHistoryShowsEachSecondAndTheDecisionOnTheReplicaLine) {
  for (int i = 0; i < 5; ++i) Second(1);
  for (int i = 0; i < 5; ++i) Second(4);
  const auto doc = Get("/status/models/iris/history");
  ASSERT_EQ(status_, 200);
  EXPECT_EQ(doc["kind"], "model");
  EXPECT_EQ(doc["interval_seconds"], 1);
  const auto& inflight = doc["series"]["inflight"];
  ASSERT_GE(inflight.size(), 9u);
  EXPECT_EQ(inflight.back(), 4);
  EXPECT_EQ(inflight[inflight.size() - 6], 1);
  EXPECT_EQ(doc["series"]["desired_replicas"].back(), 4);
  EXPECT_EQ(doc["end_unix_ms"].get<int64_t>() - doc["start_unix_ms"].get<int64_t>(),
            static_cast<int64_t>(inflight.size() - 1) * 1000);
  // Busy all second at 4 in flight: the one-second average concurrency is 4.
  EXPECT_NEAR(doc["series"]["concurrency"].back().get<double>(), 4.0, 0.01);
  bool marked = false;
  for (const auto& d : doc["decisions"]) marked = marked || (d["from"] == 1 && d["to"] == 4);
  EXPECT_TRUE(marked) << doc["decisions"].dump();
}

TEST_F(EngineHistoryTest, ServerHistorySumsItsModels) {
  for (int i = 0; i < 4; ++i) Second(3);
  const auto doc = Get("/status/servers/srv/history", "seconds=2");
  ASSERT_EQ(status_, 200);
  ASSERT_EQ(doc["series"]["inflight"].size(), 2u);
  EXPECT_EQ(doc["series"]["inflight"].back(), 3);
  EXPECT_EQ(doc["series"]["desired_replicas"].back(), 3);
}

TEST_F(EngineHistoryTest, RouteAnswers404ForUnknownAnd400ForBadSeconds) {
  Second(1);
  Get("/status/models/nope/history");
  EXPECT_EQ(status_, 404);
  Get("/status/models/iris/history", "seconds=0");
  EXPECT_EQ(status_, 400);
  Get("/status/models/iris/history", "seconds=abc");
  EXPECT_EQ(status_, 400);
  Get("/status/models/iris/history", "seconds=901");
  EXPECT_EQ(status_, 400);
  EXPECT_FALSE(
      HistoryRoute(engine_->model_history(), engine_->server_history(), "/status/models/iris", ""));
}

}  // namespace
}  // namespace lagscale::coordinator
