// The real lagscale-coordinator binary, fed by an in-test gRPC client playing two sidecars: a
// burst of in-flight requests must raise the desired replicas on /status within a second, the
// in-flight sums must be exact, the webhook must receive the decision, and the replicas must fall
// back once the burst is over.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lagscale/v1/lag.grpc.pb.h"
#include "support/coordinator_harness.h"
#include "support/metrics_text.h"
#include "support/process.h"

namespace lagscale {
namespace {

using namespace std::chrono_literals;

using nlohmann::json;
using testing::ChildProcess;
using testing::Eventually;
using testing::HttpGet;
using testing::SampleValue;
using testing::ScriptedHttpServer;
using testing::StartReady;
using testing::ThreadNames;

constexpr char kConfig[] = R"(reportTTL: 3s
decisionInterval: 100ms
windows: [1s, 5s]
defaults:
  minReplicas: 1
  maxReplicas: 20
  targetConcurrency: 2
  stableWindow: 2s
  panicWindow: 1s
  panicThreshold: 2
  scaleDownDelay: 1s
  maxScaleUpRate: 100
  maxScaleDownRate: 100
  flapWindow: 1s
  maxScaleDownDelay: 1s
)";

// One simulated sidecar: cumulative counters advanced in real time, streamed every interval. The
// pod serves requests taking kServiceTime each; holding `inflight` of them in flight means they
// arrive and complete at inflight / kServiceTime per second (Little's law), like real traffic.
constexpr double kServiceTime = 0.5;
class FakeSidecar {
 public:
  FakeSidecar(std::shared_ptr<grpc::Channel> channel, std::string pod, uint64_t incarnation)
      : stub_(v1::LagService::NewStub(channel)), pod_(std::move(pod)), incarnation_(incarnation) {
    stream_ = stub_->Report(&context_);
    acks_ = std::thread([this] {
      v1::ReportAck ack;
      while (stream_->Read(&ack)) last_ack_.store(ack.sequence());
    });
    last_ns_ = Now();
  }
  ~FakeSidecar() {
    stream_->WritesDone();
    acks_.join();
    stream_->Finish();
  }
  // Moves the counters to `now` at the current in-flight level, then sets the new level.
  void Report(int64_t inflight) {
    const int64_t now = Now();
    const double dt = static_cast<double>(now - last_ns_) / 1e9;
    busy_ += static_cast<double>(inflight_) * dt;
    flow_ += static_cast<double>(inflight_) * dt / kServiceTime;  // requests served meanwhile
    last_ns_ = now;
    // Steps in the in-flight level arrive (or complete) at once.
    if (inflight < inflight_) flow_ += static_cast<double>(inflight_ - inflight);
    inflight_ = inflight;
    completions_ = static_cast<uint64_t>(flow_);
    arrivals_ = completions_ + static_cast<uint64_t>(inflight_);
    v1::PodReport r;
    r.set_server("srv");
    r.set_pod(pod_);
    r.set_incarnation(incarnation_);
    r.set_sequence(++sequence_);
    r.set_snapshot_monotonic_ns(now);
    r.set_report_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
    auto* m = r.add_models();
    m->set_model("iris");
    m->set_arrivals(arrivals_);
    m->mutable_outcomes()->set_success(completions_);
    m->set_busy_seconds(busy_);
    m->set_inflight(inflight_);
    m->set_last_request_unix_ms(arrivals_ ? r.report_unix_ms() : 0);
    ASSERT_TRUE(stream_->Write(r));
  }
  uint64_t last_ack() const { return last_ack_.load(); }
  uint64_t sequence() const { return sequence_; }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::unique_ptr<v1::LagService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PodReport, v1::ReportAck>> stream_;
  std::thread acks_;
  std::atomic<uint64_t> last_ack_{0};
  std::string pod_;
  uint64_t incarnation_;
  uint64_t sequence_ = 0, arrivals_ = 0, completions_ = 0;
  int64_t inflight_ = 0, last_ns_ = 0;
  double busy_ = 0, flow_ = 0;
};

json Status(const std::string& http) {
  const auto r = HttpGet(http, "/status");
  return r.status == 200 ? json::parse(r.body) : json();
}

json Iris(const json& status) {
  if (!status.is_object()) return json();
  for (const auto& m : status["models"]) {
    if (m["name"] == "iris") return m;
  }
  return json();
}

class CoordinatorBurstTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lagscale-coord-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "config.yaml") << kConfig;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CoordinatorBurstTest, BurstRaisesDesiredReplicasWithinASecondAndFallsBack) {
  ScriptedHttpServer webhook;
  std::map<std::string, std::string> ready;
  const auto coordinator = StartReady(
      "lagscale-coordinator",
      {"--config", (dir_ / "config.yaml").string(), "--grpc-listen", "127.0.0.1:0", "--http-listen",
       "127.0.0.1:0", "--actuator", "webhook", "--webhook-url", webhook.url("/admin/scale")},
      ready);
  ASSERT_TRUE(coordinator);
  const std::string grpc_addr = ready["grpc"], http = ready["http"];
  EXPECT_EQ(HttpGet(http, "/readyz").status, 200);

  auto channel = grpc::CreateChannel(grpc_addr, grpc::InsecureChannelCredentials());
  FakeSidecar a(channel, "pod-a", 11), b(channel, "pod-b", 22);
  // At rest one request is in flight on pod a (2 requests/s of 0.5 s each).
  std::atomic<int64_t> level_a{1}, level_b{0};
  // The sidecars report every 100 ms, like a real one with --report-interval 100ms. (The sleep
  // paces the simulated sidecar; it synchronises nothing.) Stopped and joined on every exit path.
  struct Reporter {
    std::atomic<bool> stop{false};
    std::thread thread;
    ~Reporter() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } reporter;
  reporter.thread = std::thread([&] {
    while (!reporter.stop.load()) {
      a.Report(level_a.load());
      b.Report(level_b.load());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // At rest: both pods show up and the model sits at one replica, for a whole stable window
  // (2 s, 20 reports) so that the policy learns the time per request from calm data.
  ASSERT_TRUE(Eventually(
      [&] {
        const json m = Iris(Status(http));
        return m.is_object() && m["pods"].size() == 2 && m["desired_replicas"] == 1 &&
               m["fresh"] == true && a.sequence() >= 25;
      },
      10s))
      << Status(http).dump(2);

  // Burst: 5 + 7 requests in flight, which at 2 per replica need 6 replicas.
  constexpr int kNeeded = 6;
  const auto burst = std::chrono::steady_clock::now();
  level_a = 5;
  level_b = 7;
  // Within a second the desired replicas must reach what the load needs (the panic sizes on the
  // 0.5 s per request learned before the burst, not on the burst's first moments).
  ASSERT_TRUE(Eventually([&] { return Iris(Status(http))["desired_replicas"] >= kNeeded; }, 5s))
      << Status(http).dump(2);
  const double reaction =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - burst).count();
  RecordProperty("reaction_ms", static_cast<int>(reaction * 1000));
  EXPECT_LT(reaction, 1.0) << "desired replicas rose " << reaction << " s after the burst";
  ASSERT_TRUE(Eventually([&] { return Iris(Status(http))["inflight"] == 12; }, 5s));
  const json during = Status(http);
  EXPECT_EQ(Iris(during)["server"], "srv");
  ASSERT_EQ(during["pods"].size(), 2u);
  EXPECT_EQ(during["pods"][0]["inflight"], 5);
  EXPECT_EQ(during["pods"][1]["inflight"], 7);
  EXPECT_GT(during["pods"][0]["sequence"].get<uint64_t>(), 0u);
  const json decision = Iris(during)["last_decision"];
  EXPECT_GE(decision["to"], kNeeded);
  EXPECT_LE(decision["to"], 20) << "maxReplicas";
  EXPECT_FALSE(decision["reason"].get<std::string>().empty());

  // The webhook received the scale-up in the contract's shape.
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& r : webhook.Requests()) {
          const json body = json::parse(r.body);
          if (body["kind"] == "model" && body["name"] == "iris" && body["from"] == 1 &&
              body["to"] > 1) {
            return true;
          }
        }
        return false;
      },
      5s));
  for (const auto& r : webhook.Requests()) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/admin/scale");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
  }
  EXPECT_TRUE(Eventually(
      [&] {
        const json m = Iris(Status(http));
        return m["current_replicas"] == m["desired_replicas"];
      },
      5s))
      << "the webhook's acknowledgements move current_replicas";
  // While the burst lasts the model settles on what the load needs with its headroom: 0.5 s
  // requests are long next to this test's 1 s panic window, so the stable window sizes for the 12
  // in flight plus one Poisson standard deviation (15.5, at 2 per replica).
  constexpr int kSettled = 8;
  EXPECT_TRUE(Eventually(
      [&] {
        const json m = Iris(Status(http));
        return m["desired_replicas"] == kSettled && m["current_replicas"] == kSettled;
      },
      10s))
      << Status(http).dump(2);

  // After the burst the replicas fall back, and the webhook hears about it.
  level_a = 1;
  level_b = 0;
  ASSERT_TRUE(Eventually([&] { return Iris(Status(http))["desired_replicas"] == 1; }, 15s))
      << Status(http).dump(2);
  EXPECT_EQ(Iris(Status(http))["inflight"], 1);
  EXPECT_TRUE(Eventually(
      [&] {
        const auto reqs = webhook.Requests();
        return !reqs.empty() && json::parse(reqs.back().body)["to"] == 1;
      },
      5s));
  EXPECT_GT(a.last_ack(), 0u);

  // The coordinator's own metrics saw it all.
  const auto metrics = HttpGet(http, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_GE(SampleValue(metrics.body, R"(lagscale_coordinator_decisions_total{direction="up"})"),
            1);
  EXPECT_NE(metrics.body.find("lagscale_coordinator_model_desired_replicas{model=\"iris\"} 1"),
            std::string::npos);
}

TEST_F(CoordinatorBurstTest, StatusPageIsSelfContained) {
  std::map<std::string, std::string> ready;
  const auto coordinator =
      StartReady("lagscale-coordinator",
                 {"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, ready);
  ASSERT_TRUE(coordinator);
  auto page = HttpGet(ready["http"], "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers["content-type"].find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("<svg class=\\\"chart"), std::string::npos);  // charts drawn as SVG
  for (const char* external : {"src=\"http", "href=\"http", "@import", "src=\"//"}) {
    EXPECT_EQ(page.body.find(external), std::string::npos) << external;
  }
  const auto unknown = HttpGet(ready["http"], "/status/models/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"], "unknown model");
}

// `top -H`, `ps -L` and perf tell the coordinator's threads apart: the decision loop, the
// actuation worker, the HTTP API's I/O thread and KEDA's activity pusher (gRPC names its own).
TEST_F(CoordinatorBurstTest, ThreadsAreNamedForWhatTheyDo) {
  std::map<std::string, std::string> ready;
  const auto coordinator =
      StartReady("lagscale-coordinator",
                 {"--config", (dir_ / "config.yaml").string(), "--grpc-listen", "127.0.0.1:0",
                  "--http-listen", "127.0.0.1:0", "--actuator", "dry-run"},
                 ready);
  ASSERT_TRUE(coordinator);
  const std::set<std::string> expected = {"decide", "actuate", "http", "keda-push"};
  std::set<std::string> seen;
  EXPECT_TRUE(Eventually([&] {
    seen = ThreadNames(coordinator->pid());
    return std::includes(seen.begin(), seen.end(), expected.begin(), expected.end());
  })) << ::testing::PrintToString(seen);
}

TEST_F(CoordinatorBurstTest, SighupReloadsConfigAndKeepsState) {
  std::ofstream(dir_ / "reload.yaml") << "models: [{name: iris, maxReplicas: 5}]\n";
  std::map<std::string, std::string> ready;
  const auto coordinator = StartReady("lagscale-coordinator",
                                      {"--config", (dir_ / "reload.yaml").string(), "--grpc-listen",
                                       "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
                                      ready);
  ASSERT_TRUE(coordinator);
  const std::string http = ready["http"];
  auto channel = grpc::CreateChannel(ready["grpc"], grpc::InsecureChannelCredentials());
  FakeSidecar pod(channel, "pod-a", 5);
  pod.Report(3);
  ASSERT_TRUE(Eventually([&] { return Iris(Status(http))["inflight"] == 3; }, 5s));
  EXPECT_EQ(Iris(Status(http))["max_replicas"], 5);

  std::ofstream(dir_ / "reload.yaml") << "models: [{name: iris, maxReplicas: 2}]\n";
  coordinator->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Iris(Status(http))["max_replicas"] == 2; }, 5s));
  EXPECT_EQ(Iris(Status(http))["inflight"], 3) << "aggregation survives a reload";
  EXPECT_EQ(Status(http)["pods"].size(), 1u);

  std::ofstream(dir_ / "reload.yaml") << "models: [{name: iris, maxReplicas: many}]\n";
  coordinator->Signal(SIGHUP);
  ASSERT_TRUE(Eventually(
      [&] {
        return HttpGet(http, "/metrics")
                   .body.find("lagscale_coordinator_config_reloads_total{result=\"error\"} 1") !=
               std::string::npos;
      },
      5s));
  EXPECT_EQ(Iris(Status(http))["max_replicas"], 2) << "a bad file keeps the previous config";
}

TEST_F(CoordinatorBurstTest, InvalidConfigStopsStartupNamingTheField) {
  std::ofstream(dir_ / "bad.yaml") << "defaults:\n  maxReplicas: lots\n";
  const auto coordinator =
      ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator", "--config",
                           (dir_ / "bad.yaml").string(), "--grpc-listen", "127.0.0.1:0",
                           "--http-listen", "127.0.0.1:0"});
  ASSERT_TRUE(coordinator);
  EXPECT_EQ(coordinator->WaitForLine("lagscale-coordinator ready", 3s), std::nullopt);
  EXPECT_EQ(coordinator->Wait(), 2);
}

}  // namespace
}  // namespace lagscale
