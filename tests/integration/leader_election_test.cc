// Coordinator high availability, end to end: two real lagscale-coordinator processes elect a
// leader through a coordination.k8s.io/v1 Lease on the emulated API server (in this process), two
// real lagscale-sidecar processes in front of lagscale-testserver report through a ServiceProxy
// (the Service: round-robin over ready pods, as kube-proxy balances), and the emulator records
// who wrote which replica count when. Killing the leader with SIGKILL under load must hand over
// within the lease duration, with exactly one writer at any moment and no scale-down; stopping it
// cleanly must release the Lease so the standby takes over at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "support/k8s_emulator.h"
#include "support/service_proxy.h"

namespace lagscale {
namespace {

using namespace std::chrono_literals;

using nlohmann::json;
using testing::ChildProcess;
using testing::Eventually;
using testing::HttpGet;
using testing::KubeEmulator;
using testing::KubeObjects;
using testing::ServiceProxy;
using testing::StartReady;
using testing::TestPki;
using Clock = std::chrono::steady_clock;

constexpr char kConfig[] = R"(reportTTL: 3s
decisionInterval: 100ms
windows: [1s, 5s]
defaults:
  minReplicas: 1
  maxReplicas: 20
  targetConcurrency: 1
  stableWindow: 2s
  panicWindow: 1s
  panicThreshold: 2
  scaleDownDelay: 1s
  maxScaleUpRate: 100
  maxScaleDownRate: 100
  flapWindow: 1s
  maxScaleDownDelay: 1s
models:
- name: iris
  target: {apiVersion: apps/v1, kind: Deployment, name: iris, namespace: default}
)";
const std::string kScalePath = "/apis/apps/v1/namespaces/default/deployments/iris/scale";


double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A request the testserver holds for two minutes: one exact unit of in-flight for `model` on the
// sidecar at `host_port`, until the object is destroyed (the client closes: an abort).
class HeldRequest {
 public:
  HeldRequest(const std::string& host_port, const std::string& model) {
    using boost::asio::ip::tcp;
    const auto colon = host_port.rfind(':');
    socket_.connect(tcp::endpoint(boost::asio::ip::make_address(host_port.substr(0, colon)),
                                  static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1)))));
    const std::string body =
        R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})";
    const std::string request = "POST /v2/models/" + model +
                                "/infer HTTP/1.1\r\nHost: x\r\nx-test-delay-ms: 120000\r\n"
                                "Content-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    boost::asio::write(socket_, boost::asio::buffer(request));
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
};

// Short requests to "bg" through the sidecars, round-robin, until destroyed: load all along.
class BackgroundLoad {
 public:
  explicit BackgroundLoad(std::vector<std::string> sidecars)
      : thread_([this, s = std::move(sidecars)] {
          for (size_t i = 0; !stop_; ++i) HttpGet(s[i % s.size()], "/v2/models/bg/ready");
        }) {}
  ~BackgroundLoad() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

json Status(const std::string& http) {
  const auto r = HttpGet(http, "/status");
  return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
}

json Model(const json& status, const std::string& name) {
  if (!status.is_object()) return json();
  for (const auto& m : status["models"]) {
    if (m["name"] == name) return m;
  }
  return json();
}

bool Leads(const std::string& http) {
  const json s = Status(http);
  return s.is_object() && s.contains("leadership") && s["leadership"]["leading"] == true;
}

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_.SetHandler(objects_.Handler());
    objects_.SetReplicas(kScalePath, 2);
    std::ofstream(pki_.Path("config.yaml")) << kConfig;
  }

  struct Coordinator {
    std::unique_ptr<ChildProcess> process;
    std::string grpc, http;
  };
  Coordinator StartCoordinator(const std::string& identity, const std::string& lease_duration,
                               const std::string& renew_deadline) {
    Coordinator c;
    std::map<std::string, std::string> ready;
    c.process =
        StartReady("lagscale-coordinator", {"--config",       pki_.Path("config.yaml"),
                                            "--grpc-listen",  "127.0.0.1:0",
                                            "--http-listen",  "127.0.0.1:0",
                                            "--actuator",     "kubernetes",
                                            "--kubeconfig",   pki_.Kubeconfig(api_.url(), identity),
                                            "--leader-elect", "--leader-elect-identity",
                                            identity,         "--leader-elect-resource-namespace",
                                            "lagscale",       "--leader-elect-lease-duration",
                                            lease_duration,   "--leader-elect-renew-deadline",
                                            renew_deadline,   "--leader-elect-retry-period",
                                            "250ms"},
                   ready);
    EXPECT_TRUE(c.process) << identity << " did not start";
    c.grpc = ready["grpc"];
    c.http = ready["http"];
    return c;
  }

  std::vector<KubeObjects::Write> WritesBy(const std::string& writer) {
    std::vector<KubeObjects::Write> out;
    for (const auto& w : objects_.ScaleWrites()) {
      if (w.writer == writer) out.push_back(w);
    }
    return out;
  }

  TestPki pki_;
  KubeEmulator api_{pki_};
  KubeObjects objects_;
};

TEST_F(LeaderElectionTest, KilledLeaderIsReplacedWithinTheLeaseWithOneWriterAndNoScaleDown) {
  // Lease 4 s, renew deadline 3 s, retry 250 ms: client-go's proportions, shortened.
  Coordinator a = StartCoordinator("coordinator-a", "4s", "3s");
  ASSERT_TRUE(Eventually([&] { return Leads(a.http); }, 20s)) << "a never led";
  Coordinator b = StartCoordinator("coordinator-b", "4s", "3s");
  ASSERT_TRUE(
      Eventually([&] { return Status(b.http)["leadership"]["holder"] == "coordinator-a"; }, 20s));
  EXPECT_FALSE(Leads(b.http));

  ServiceProxy service({{a.grpc, a.http}, {b.grpc, b.http}});
  std::map<std::string, std::string> ready;
  const auto upstream =
      StartReady("lagscale-testserver",
                 {"--http", "127.0.0.1:0", "--grpc", "", "--service-time-ms", "2"}, ready);
  ASSERT_TRUE(upstream);
  const std::string upstream_http = ready["http"];
  std::vector<std::unique_ptr<ChildProcess>> sidecars;
  std::vector<std::string> sidecar_http;
  for (const char* pod : {"srv-1", "srv-2"}) {
    sidecars.push_back(StartReady(
        "lagscale-sidecar",
        {"--listen", "127.0.0.1:0", "--upstream", upstream_http, "--admin", "127.0.0.1:0",
         "--grpc-listen", "", "--threads", "1", "--server-name", "srv", "--pod-name", pod,
         "--coordinator", service.address(), "--report-interval", "200ms"},
        ready));
    ASSERT_TRUE(sidecars.back());
    sidecar_http.push_back(ready["http"]);
  }

  // Load: short requests to "bg" through both sidecars all along, and five requests to "iris"
  // held open (three on one pod, two on the other): iris's in-flight is exactly 5.
  BackgroundLoad background(sidecar_http);
  std::vector<std::unique_ptr<HeldRequest>> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(std::make_unique<HeldRequest>(sidecar_http[i < 3 ? 0 : 1], "iris"));
  }
  ASSERT_TRUE(Eventually(
      [&] {
        const json iris = Model(Status(a.http), "iris");
        return iris.is_object() && iris["inflight"] == 5 && iris["pods"].size() == 2;
      },
      20s))
      << Status(a.http).dump();
  ASSERT_TRUE(Eventually([&] { return objects_.Replicas(kScalePath) == 5; }, 20s))
      << "a did not scale iris to 5: " << Status(a.http).dump();
  const int before = objects_.Replicas(kScalePath);
  EXPECT_GT(service.balanced()[1], 0) << "no report stream ever reached the follower";

  // kill -9 the leader.
  const auto killed = Clock::now();
  a.process->Signal(SIGKILL);
  ASSERT_TRUE(Eventually([&] { return Leads(b.http); }, 20s)) << Status(b.http).dump();
  const auto led = Clock::now();
  // The new leader's picture: the first /status that lists both pods shows the same in-flight
  // (each pod's first report after reconnecting carries its cumulative counters).
  json iris;
  ASSERT_TRUE(Eventually(
      [&] {
        iris = Model(Status(b.http), "iris");
        return iris.is_object() && iris["pods"].size() == 2;
      },
      20s))
      << Status(b.http).dump() << "\nsrv-1 stderr:\n"
      << sidecars[0]->stderr_text() << "\nsrv-2 stderr:\n"
      << sidecars[1]->stderr_text();
  const auto complete = Clock::now();
  EXPECT_EQ(iris["inflight"], 5) << iris.dump();

  // More load: the new leader scales up (scale-up is allowed while it holds scale-down).
  for (int i = 0; i < 3; ++i)
    held.push_back(std::make_unique<HeldRequest>(sidecar_http[1], "iris"));
  ASSERT_TRUE(Eventually([&] { return objects_.Replicas(kScalePath) == 8; }, 20s))
      << Status(b.http).dump();

  // Who wrote when: everything a wrote happened before everything b wrote (one writer at any
  // moment), b wrote nothing before it led, and nothing scaled iris down during the hand-over.
  const auto by_a = WritesBy("coordinator-a");
  const auto by_b = WritesBy("coordinator-b");
  ASSERT_FALSE(by_a.empty());
  ASSERT_FALSE(by_b.empty());
  EXPECT_EQ(by_a.size() + by_b.size(), objects_.ScaleWrites().size()) << "an unknown writer";
  for (const auto& w : by_a) EXPECT_LT(w.at, killed);
  for (const auto& w : by_b) EXPECT_GT(w.at, by_a.back().at);
  for (const auto& w : objects_.ScaleWrites()) {
    if (w.at > killed) {
      EXPECT_GE(w.replicas, before) << "scale-down to " << w.replicas << " during the hand-over";
    }
  }
  const json lease = objects_.Lease("lagscale", "lagscale-coordinator");
  EXPECT_EQ(lease["spec"]["holderIdentity"], "coordinator-b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  const auto metrics = HttpGet(b.http, "/metrics").body;
  EXPECT_NE(metrics.find("lagscale_coordinator_is_leader 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("lagscale_coordinator_leader_transitions_total 1"), std::string::npos);

  const double hand_over = Seconds(led - killed);
  // The standby saw a's last renewal at most one jittered retry (2.2 x 250 ms) after it was
  // written, waits the 4 s lease from then, and tries again within another jittered retry; the
  // rest is slack for a loaded machine (TLS per request, /status rebuilt every 250 ms).
  EXPECT_LT(hand_over, 4.0 + 2 * 0.55 + 1.5) << "lease duration + two jittered retries";
  RecordProperty("hand_over_s", std::to_string(hand_over));
  std::printf(
      "hand-over after SIGKILL: %.2f s (lease 4 s, retry 250 ms); picture complete %.2f s "
      "after the kill\n",
      hand_over, Seconds(complete - killed));
}

TEST_F(LeaderElectionTest, CleanShutdownReleasesTheLeaseSoTheStandbyTakesOverAtOnce) {
  // A long lease: waiting it out would take 10 s; a released Lease is taken at the next retry.
  Coordinator a = StartCoordinator("coordinator-a", "10s", "6s");
  ASSERT_TRUE(Eventually([&] { return Leads(a.http); }, 20s));
  Coordinator b = StartCoordinator("coordinator-b", "10s", "6s");
  ASSERT_TRUE(
      Eventually([&] { return Status(b.http)["leadership"]["holder"] == "coordinator-a"; }, 20s));
  const auto stopped = Clock::now();
  a.process->Signal(SIGTERM);
  EXPECT_EQ(a.process->Wait(10s), 0);
  ASSERT_TRUE(Eventually([&] { return Leads(b.http); }, 20s));
  const double took = Seconds(Clock::now() - stopped);
  EXPECT_LT(took, 3.0) << "the standby waited for the lease to expire instead";

  // The Lease's history after SIGTERM (a may have renewed once more before stopping): a released
  // it (holder cleared), then b took it, and a wrote nothing after its release.
  std::vector<std::string> history;  // "writer:holder" of each successful write
  for (const auto& w : objects_.LeaseWrites()) {
    if (w.status == 200 && w.at > stopped) history.push_back(w.writer + ":" + w.holder);
  }
  const auto release = std::find(history.begin(), history.end(), "coordinator-a:");
  ASSERT_NE(release, history.end()) << "a never released the Lease";
  ASSERT_NE(release + 1, history.end());
  EXPECT_EQ(*(release + 1), "coordinator-b:coordinator-b");
  for (auto it = release + 1; it != history.end(); ++it)
    EXPECT_EQ(it->rfind("coordinator-a", 0), std::string::npos);
  std::printf("hand-over after SIGTERM (lease released): %.2f s (lease 10 s)\n", took);
}

// SIGTERM while a scale write is in flight: the write lands first, then the Lease is released, so
// a standby that takes over at once reads what the old leader wrote and is never overtaken by it.
TEST_F(LeaderElectionTest, CleanShutdownReleasesTheLeaseOnlyAfterTheWriteInFlightLanded) {
  objects_.SetReplicas(kScalePath, 0);  // below minReplicas: the leader scales up at once
  objects_.DelayScaleWrites(1500ms);
  Coordinator a = StartCoordinator("coordinator-a", "10s", "6s");
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& r : api_.Requests()) {
          if (r.method == "PATCH") return true;
        }
        return false;
      },
      20s));
  a.process->Signal(SIGTERM);
  EXPECT_EQ(a.process->Wait(10s), 0);
  const auto writes = WritesBy("coordinator-a");
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].replicas, 1);
  bool released = false;
  for (const auto& w : objects_.LeaseWrites()) {
    if (w.status != 200 || !w.holder.empty()) continue;
    released = true;
    EXPECT_TRUE(w.at >= writes[0].done)
        << "the Lease was released " << Seconds(writes[0].done - w.at)
        << " s before the write in flight landed";
  }
  EXPECT_TRUE(released) << "coordinator-a never released the Lease";
}

// What could never lead stops start-up with exit 2, naming the flag and the value. Before, a lease
// of 1e12 s wrote leaseDurationSeconds -2147483648 and a bad name a broken request path, and the
// process ran on, retrying forever.
TEST(LeaderElectFlagsTest, ADurationOverAnHourOrABadLeaseNameStopsStartUpWithExit2) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--leader-elect-lease-duration", "1e12"},
           {"--leader-elect-renew-deadline", "20000000000"},
           {"--leader-elect-resource-name", "Bad/Name"},
           {"--leader-elect-resource-namespace", "a b"}}) {
    auto c =
        ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator",
                             "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                             "--leader-elect", "--leader-elect-identity", "pod-a", flag, value});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->Wait(), 2) << flag << " " << value << "\n" << c->stderr_text();
    EXPECT_NE(c->stderr_text().find(flag + ": invalid value \"" + value + "\""), std::string::npos)
        << c->stderr_text();
  }
}

}  // namespace
}  // namespace lagscale
