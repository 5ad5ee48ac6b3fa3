#include "lagscale/coordinator/routes.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace lagscale::coordinator {
namespace {

// An engine that has seen one report naming `model`, driven by hand.
class RoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions o;
    o.config = std::make_shared<Config>();
    o.clock = &clock_;
    engine_ = std::make_unique<Engine>(std::move(o));
  }
  void Report(const std::string& model) {
    v1::PodReport r;
    r.set_server("srv");
    r.set_pod("pod-a");
    r.set_incarnation(1);
    clock_.AdvanceSeconds(1);
    r.set_sequence(++seq_);
    r.set_snapshot_monotonic_ns(clock_.MonotonicNs());
    auto* c = r.add_models();
    c->set_model(model);
    c->set_inflight(3);
    engine_->Enqueue(std::move(r));
    engine_->DrainReports();
    engine_->DecideNow();
    engine_->PublishStatus();
  }
  HttpReply Get(const std::string& target) { return MakeRoutes(*engine_, metrics_)("GET", target); }

  base::ManualClock clock_;
  uint64_t seq_ = 0;
  CoordinatorMetrics metrics_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(RoutesTest, ModelStatusPercentDecodesTheName) {
  Report("llama-3.1_chat");
  const HttpReply reply = Get("/status/models/llama%2D3%2E1_chat");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto doc = nlohmann::json::parse(reply.body);
  EXPECT_EQ(doc["name"], "llama-3.1_chat");
  EXPECT_EQ(doc["inflight"], 3);
}

TEST_F(RoutesTest, ModelStatusDecodesLowerCaseHexAndPlainNames) {
  Report("a.b");
  EXPECT_EQ(Get("/status/models/a%2eb").status, 200);
  Report("plain");
  EXPECT_EQ(Get("/status/models/plain?x=1").status, 200);
}

TEST_F(RoutesTest, ModelStatusRejectsBrokenPercentEncoding) {
  Report("m");
  for (const char* bad : {"/status/models/m%", "/status/models/m%2", "/status/models/m%zz"}) {
    const HttpReply reply = Get(bad);
    EXPECT_EQ(reply.status, 400) << bad;
    EXPECT_NE(reply.body.find("percent-encoding"), std::string::npos) << reply.body;
  }
}

TEST_F(RoutesTest, UnknownModelIs404EvenWhenEncoded) {
  Report("m");
  EXPECT_EQ(Get("/status/models/m%20x").status, 404);
  // The encoded name is not matched literally either.
  Report("a b");
  EXPECT_EQ(Get("/status/models/a%2520b").status, 404);
}

}  // namespace
}  // namespace lagscale::coordinator
