#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/actuator.h"
#include "support/coordinator_harness.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;
using testing::ScriptedHttpServer;
using testing::ScriptedReply;

ScaleRequest Decision(const std::string& name, int from, int to) {
  ScaleRequest r;
  r.kind = TargetKind::kModel;
  r.name = name;
  r.server = "mlserver";
  r.name_space = "default";
  r.from = from;
  r.to = to;
  r.reason = "panic: 9.5 in flight > 2x capacity of 1";
  r.time_unix_ms = 1764300000000;
  return r;
}

TEST(WebhookActuatorTest, PostsTheContractPayload) {
  ScriptedHttpServer hook;
  auto actuator = MakeWebhookActuator({hook.url("/admin/scale")});
  const ActuationResult r = actuator->Apply(Decision("iris", 1, 3));
  EXPECT_EQ(r.status, ActuationResult::Status::kOk);
  EXPECT_EQ(r.observed_replicas, 3);
  const auto reqs = hook.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/admin/scale");
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body), nlohmann::json::parse(R"({"kind":"model",
    "name":"iris","server":"mlserver","namespace":"default","from":1,"to":3,
    "reason":"panic: 9.5 in flight > 2x capacity of 1","time_unix_ms":1764300000000})"));
}

TEST(WebhookActuatorTest, ServerDecisionsNameTheServerTwice) {
  ScriptedHttpServer hook;
  auto actuator = MakeWebhookActuator({hook.url("/admin/scale")});
  ScaleRequest r = Decision("mlserver", 2, 1);
  r.kind = TargetKind::kServer;
  actuator->Apply(r);
  const auto body = nlohmann::json::parse(hook.Requests().at(0).body);
  EXPECT_EQ(body["kind"], "server");
  EXPECT_EQ(body["name"], "mlserver");
  EXPECT_EQ(body["server"], "mlserver");
}

TEST(WebhookActuatorTest, RetriesServerErrorsButNotClientErrors) {
  ScriptedHttpServer hook;
  hook.Push({503, "busy"});
  hook.Push({429, "", {{"Retry-After", "0"}}});
  hook.Push({200, "ok"});
  hook.Push({400, "bad"});
  ActuationWorker worker(MakeWebhookActuator({hook.url("/admin/scale")}),
                         WorkerOptions{0.01, 0.01, 0.05, 5});
  worker.Submit(Decision("iris", 1, 2));
  std::vector<std::string> seen;
  ActuationReport report;
  while (seen.size() < 3 && Eventually([&] { return worker.PollResult(report); }, 5s)) {
    seen.push_back(StatusName(report.result.status));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"retry", "retry", "ok"}));
  worker.Submit(Decision("iris", 2, 4));
  ASSERT_TRUE(Eventually([&] { return worker.PollResult(report); }, 5s));
  EXPECT_EQ(report.result.status, ActuationResult::Status::kFailed);
  EXPECT_EQ(report.result.http_status, 400);
  EXPECT_FALSE(Eventually([&] { return hook.RequestCount() > 4; }, 300ms));
}

// The receiver answers with its status line. A 2xx with a body over the client's limit once
// counted as a failed connection and was retried, so the receiver got the decision many times.
TEST(WebhookActuatorTest, StatusStandsWhenTheBodyIsOverTheLimit) {
  ScriptedHttpServer hook;
  const std::string huge(kMaxHttpBodyBytes + 1, 'x');
  hook.Push({200, huge});
  hook.Push({503, huge});
  auto actuator = MakeWebhookActuator({hook.url("/admin/scale")});
  const ActuationResult ok = actuator->Apply(Decision("iris", 1, 3));
  EXPECT_EQ(ok.status, ActuationResult::Status::kOk) << ok.error;
  EXPECT_EQ(ok.http_status, 200);
  EXPECT_EQ(ok.observed_replicas, 3);
  const ActuationResult busy = actuator->Apply(Decision("iris", 1, 3));
  EXPECT_EQ(busy.status, ActuationResult::Status::kRetry);
  EXPECT_EQ(busy.http_status, 503);
  EXPECT_EQ(busy.error, "HTTP 503");
  EXPECT_EQ(hook.RequestCount(), 2u);
}

TEST(WebhookActuatorTest, UnusableUrlIsRejected) {
  EXPECT_THROW(MakeWebhookActuator({"ftp://example"}), std::invalid_argument);
  EXPECT_THROW(MakeWebhookActuator({"http://"}), std::invalid_argument);
}

TEST(ActuationWorkerTest, NewestDecisionPerTargetWinsWhileBusy) {
  ScriptedHttpServer hook;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  hook.SetHandler([&](const testing::RecordedRequest&) {
    if (calls++ == 0) released.wait();  // the first POST blocks until the test lets it go
    return ScriptedReply{200, "{}"};
  });
  ActuationWorker worker(MakeWebhookActuator({hook.url("/")}), WorkerOptions{0.01, 0.01, 0.05, 5});
  worker.Submit(Decision("iris", 1, 3));
  ASSERT_TRUE(Eventually([&] { return hook.RequestCount() == 1; }, 5s));
  worker.Submit(Decision("iris", 3, 4));
  worker.Submit(Decision("iris", 4, 5));
  worker.Submit(Decision("other", 1, 2));
  release.set_value();
  ASSERT_TRUE(Eventually([&] { return hook.RequestCount() == 3; }, 5s));
  EXPECT_FALSE(Eventually([&] { return hook.RequestCount() > 3; }, 300ms));
  std::vector<std::pair<std::string, int>> posted;
  for (const auto& r : hook.Requests()) {
    const auto body = nlohmann::json::parse(r.body);
    posted.emplace_back(body["name"], body["to"]);
  }
  std::sort(posted.begin() + 1, posted.end());
  EXPECT_EQ(posted,
            (std::vector<std::pair<std::string, int>>{{"iris", 3}, {"iris", 5}, {"other", 2}}));
}

TEST(ActuationWorkerTest, RateLimitsEachTarget) {
  ScriptedHttpServer hook;
  ActuationWorker worker(MakeWebhookActuator({hook.url("/")}), WorkerOptions{0.5, 0.01, 0.05, 5});
  worker.Submit(Decision("iris", 1, 2));
  ASSERT_TRUE(Eventually([&] { return hook.RequestCount() == 1; }, 5s));
  worker.Submit(Decision("iris", 2, 3));
  ASSERT_TRUE(Eventually([&] { return hook.RequestCount() == 2; }, 5s));
  const auto reqs = hook.Requests();
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(450));
}

}  // namespace
}  // namespace lagscale::coordinator
