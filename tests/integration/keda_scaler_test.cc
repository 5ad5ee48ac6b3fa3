// KEDA's side of the external scaler, played by an independent Python grpcio client
// (tests/integration/keda_client.py, stubs generated from proto/externalscaler at test time) that
// polls GetMetricSpec/GetMetrics every 500 ms, holds StreamIsActive open and applies the HPA
// formula. Real processes on loopback: lagscale-testserver behind two lagscale-sidecars reporting
// to lagscale-coordinator. A burst must reach the client as the coordinator's own replicas within
// one poll, its activity must be pushed within 200 ms of the first request, and a restarted
// coordinator without fresh reports must answer UNAVAILABLE, never a value.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/openssl_certs.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

constexpr char kConfig[] = R"(reportTTL: 2s
decisionInterval: 100ms
windows: [1s, 5s]
defaults:
  minReplicas: 1
  maxReplicas: 9
  targetConcurrency: 2
  stableWindow: 2s
  panicWindow: 1s
  panicThreshold: 2
  scaleDownDelay: 1s
  maxScaleUpRate: 100
  maxScaleDownRate: 100
  idleWindow: 2s
models:
  - name: iris
    actuator: keda
)";

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class KedaScalerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists("/usr/bin/python3"));
    dir_ = std::filesystem::temp_directory_path() /
           ("lagscale-keda-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "config.yaml") << kConfig;
  }
  void TearDown() override {
    client_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<ChildProcess> StartCoordinator(const std::string& grpc_listen,
                                                 std::map<std::string, std::string>& addr,
                                                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--config",      (dir_ / "config.yaml").string(),
                                     "--grpc-listen", grpc_listen,
                                     "--http-listen", "127.0.0.1:0",
                                     "--actuator",    "dry-run"};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartReady("lagscale-coordinator", args, addr);
  }
  std::unique_ptr<ChildProcess> StartSidecar(const std::string& pod, const std::string& upstream,
                                             const std::string& coordinator,
                                             std::map<std::string, std::string>& addr,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen",
                                     "127.0.0.1:0",
                                     "--upstream",
                                     upstream,
                                     "--admin",
                                     "127.0.0.1:0",
                                     "--grpc-listen",
                                     "",
                                     "--threads",
                                     "1",
                                     "--coordinator",
                                     coordinator,
                                     "--report-interval",
                                     "100ms",
                                     "--early-report-threshold",
                                     "1",
                                     "--server-name",
                                     "srv",
                                     "--pod-name",
                                     pod};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartReady("lagscale-sidecar", args, addr);
  }
  // A KEDA-like client writing its events to `events` (a file name in the test's directory),
  // with `extra` arguments (TLS).
  std::unique_ptr<ChildProcess> Client(const std::string& coordinator, const std::string& metadata,
                                       const std::string& events,
                                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "/usr/bin/python3",
        std::string(LAGSCALE_SOURCE_DIR) + "/tests/integration/keda_client.py",
        "--address",
        coordinator,
        "--proto-dir",
        std::string(LAGSCALE_SOURCE_DIR) + "/proto",
        "--events",
        (dir_ / events).string(),
        "--gen-dir",
        (dir_ / ("gen-" + events)).string(),
        "--metadata",
        metadata,
        "--metadata",
        "metric=desiredReplicas",
        "--poll",
        "0.5",
        "--min",
        "1",
        "--max",
        "9"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ChildProcess::Start(args);
  }
  void StartClient(const std::string& coordinator, const std::string& metadata) {
    client_ = Client(coordinator, metadata, "events.jsonl");
    ASSERT_TRUE(client_);
  }
  // Every event a client wrote so far to `events`.
  std::vector<json> Events(const std::string& events = "events.jsonl") {
    std::vector<json> out;
    std::ifstream in(dir_ / events);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '}') out.push_back(json::parse(line));
    }
    return out;
  }
  std::vector<json> EventsOf(const std::string& kind, double since = 0,
                             const std::string& events = "events.jsonl") {
    std::vector<json> out;
    for (auto& e : Events(events)) {
      if (e["event"] == kind && e["t"].get<double>() >= since) out.push_back(e);
    }
    return out;
  }
  static json Iris(const std::string& http) {
    const auto r = HttpGet(http, "/status");
    if (r.status != 200) return json();
    const json doc = json::parse(r.body);  // kept alive: the loop walks into it
    for (const auto& m : doc["models"]) {
      if (m["name"] == "iris") return m;
    }
    return json();
  }

  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> client_;
};

TEST_F(KedaScalerTest, KedaClientFollowsTheCoordinatorAndHoldsWithoutFreshReports) {
  std::map<std::string, std::string> up, coord, a, b;
  auto upstream = StartReady("lagscale-testserver",
                             {"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--model",
                              "iris:300", "--concurrency", "1000"},
                             up);
  ASSERT_TRUE(upstream);
  auto coordinator = StartCoordinator("127.0.0.1:0", coord);
  ASSERT_TRUE(coordinator);
  auto pod_a = StartSidecar("pod-a", up["http"], coord["grpc"], a);
  auto pod_b = StartSidecar("pod-b", up["http"], coord["grpc"], b);
  ASSERT_TRUE(pod_a && pod_b);
  StartClient(coord["grpc"], "model=iris");

  // Before any traffic: iris is configured but no pod has mentioned it, so it is idle (value 0,
  // one replica for the HPA) and the stream has told the client so.
  ASSERT_TRUE(Eventually([&] { return !EventsOf("active").empty(); }, 20s))
      << client_->stderr_text();
  EXPECT_EQ(EventsOf("active")[0]["value"], false);
  ASSERT_TRUE(Eventually([&] { return !EventsOf("poll").empty(); }, 10s));
  EXPECT_EQ(EventsOf("poll").back()["value"], 0);
  EXPECT_EQ(EventsOf("poll").back()["target"], 1);
  EXPECT_EQ(EventsOf("poll").back()["metric"], "lagscale-model-iris-desiredreplicas");

  // Burst: 12 clients keep 300 ms requests in flight through both sidecars (6 replicas at 2).
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  const double burst = Now();
  for (int i = 0; i < 12; ++i) {
    load.emplace_back([&, i] {
      const std::string& sidecar = i % 2 ? a["http"] : b["http"];
      while (!stop.load()) {
        Http("POST", sidecar, "/v2/models/iris/infer",
             R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1.0]}]})");
      }
    });
  }
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads) t.join();
    }
  } joiner{stop, load};

  // Activity is pushed within 200 ms of the first request.
  ASSERT_TRUE(Eventually([&] { return !EventsOf("active", burst).empty(); }, 5s));
  const json pushed = EventsOf("active", burst)[0];
  EXPECT_EQ(pushed["value"], true);
  const double push_ms = (pushed["t"].get<double>() - burst) * 1000;
  RecordProperty("activity_push_ms", static_cast<int>(push_ms));
  EXPECT_LT(push_ms, 200) << "activity pushed " << push_ms << " ms after the first request";

  // The coordinator's desired replicas, sampled by the test while the client polls: wherever the
  // desired value held for more than a poll, every client poll after the first poll period
  // (plus 300 ms for a loaded machine) computed exactly it.
  std::vector<std::pair<double, int>> desired;  // (time, desired replicas)
  const double sample_until = Now() + 5;
  while (Now() < sample_until) {
    const json m = Iris(coord["http"]);
    if (m.is_object()) desired.emplace_back(Now(), m["desired_replicas"].get<int>());
    std::this_thread::sleep_for(50ms);
  }
  int compared = 0, peak = 0;
  for (size_t i = 0; i < desired.size();) {
    size_t j = i;
    while (j + 1 < desired.size() && desired[j + 1].second == desired[i].second) ++j;
    // /status is rebuilt every 250 ms while KEDA's view follows every decision at once: the client
    // may see a change up to ~300 ms before the test does, and sees it one poll later at most.
    const double from = desired[i].first + 0.8, to = desired[j].first - 0.35;
    peak = std::max(peak, desired[i].second);
    for (const json& p : EventsOf("poll", from)) {
      if (p["t"].get<double>() > to) break;
      EXPECT_EQ(p["replicas"], desired[i].second)
          << "client poll at +" << p["t"].get<double>() - burst << " s";
      ++compared;
    }
    i = j + 1;
  }
  EXPECT_GE(peak, 5) << "12 in flight at 2 per replica";
  EXPECT_GE(compared, 3) << "the desired replicas never held long enough to compare";
  RecordProperty("polls_compared", compared);
  const json iris = Iris(coord["http"]);
  EXPECT_EQ(iris["actuated_by"], "keda");
  EXPECT_EQ(iris["keda"]["metric"], "desiredReplicas");
  EXPECT_EQ(iris["keda"]["status"], "ok");
  EXPECT_GE(iris["keda"]["value"].get<double>(), 5);

  // The burst ends: after the 2 s idle window the stream says inactive.
  stop = true;
  for (auto& t : load) t.join();
  load.clear();
  const double calm = Now();
  ASSERT_TRUE(Eventually(
      [&] {
        const auto e = EventsOf("active", calm);
        return !e.empty() && e.back()["value"] == false;
      },
      10s));

  // Restart: the sidecars are frozen (unreachable) and a new coordinator takes the same port. It
  // has no fresh reports, so every answer the client gets is UNAVAILABLE (the HPA holds), never a
  // value.
  pod_a->Signal(SIGSTOP);
  pod_b->Signal(SIGSTOP);
  coordinator->Signal(SIGTERM);
  ASSERT_TRUE(coordinator->Wait(10s).has_value());
  std::map<std::string, std::string> coord2;
  // Held until the new coordinator binds it: no other process can take the port meanwhile.
  const RefusingPort held(coord["grpc"]);
  auto restarted = StartCoordinator(held.address(), coord2);
  ASSERT_TRUE(restarted);
  const double restart = Now();
  ASSERT_TRUE(Eventually(
      [&] {
        for (const json& e : EventsOf("error", restart)) {
          if (e["message"].get<std::string>().find("no fresh reports") != std::string::npos)
            return true;
        }
        return false;
      },
      10s))
      << "the restarted coordinator never answered";
  // An observation window of three more polls while nothing reports (not a synchronisation).
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(EventsOf("poll", restart).empty())
      << "a value without fresh reports: " << EventsOf("poll", restart)[0].dump();
  for (const json& e : EventsOf("error", restart)) EXPECT_EQ(e["code"], "UNAVAILABLE");
  const auto status = json::parse(HttpGet(coord2["http"], "/status").body);
  ASSERT_FALSE(status["keda"].empty());
  EXPECT_EQ(status["keda"][0]["name"], "iris");
  EXPECT_EQ(status["keda"][0]["status"], "UNAVAILABLE");

  // The sidecars come back: values again once they have reported twice.
  pod_a->Signal(SIGCONT);
  pod_b->Signal(SIGCONT);
  const double back = Now();
  ASSERT_TRUE(Eventually([&] { return !EventsOf("poll", back).empty(); }, 15s));
  EXPECT_GE(EventsOf("poll", back)[0]["value"].get<double>(), 1);
}

// The coordinator's gRPC port with mutual TLS (what the chart's reportTls.mutual turns on): KEDA
// reaches the external scaler only with the TriggerAuthentication's CA and client certificate, as
// the sidecars' reports do; a caller without a certificate, or with one from another CA, gets no
// answer at all.
TEST_F(KedaScalerTest, OverMutualTlsOnlyAClientWithTheCertificateIsAnswered) {
  TestCertificates certs;
  certs.MakeCa("ca");
  certs.MakeLeaf("server", "ca");
  certs.MakeLeaf("client", "ca");
  certs.MakeCa("other-ca");
  certs.MakeLeaf("stranger", "other-ca");
  std::map<std::string, std::string> up, coord, pod;
  auto upstream = StartReady("lagscale-testserver",
                             {"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--model",
                              "iris:50", "--concurrency", "100"},
                             up);
  ASSERT_TRUE(upstream);
  auto coordinator = StartCoordinator(
      "127.0.0.1:0", coord,
      {"--tls-cert", certs.Path("server.pem"), "--tls-key", certs.Path("server.key"),
       "--tls-client-ca", certs.Path("ca.pem")});
  ASSERT_TRUE(coordinator);
  auto sidecar = StartSidecar("pod-a", up["http"], coord["grpc"], pod,
                              {"--coordinator-ca", certs.Path("ca.pem"), "--coordinator-cert",
                               certs.Path("client.pem"), "--coordinator-key",
                               certs.Path("client.key")});
  ASSERT_TRUE(sidecar);
  ASSERT_EQ(Http("POST", pod["http"], "/v2/models/iris/infer",
                 R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1.0]}]})")
                .status,
            200);

  auto keda = Client(coord["grpc"], "model=iris", "keda.jsonl",
                     {"--ca-cert", certs.Path("ca.pem"), "--client-cert", certs.Path("client.pem"),
                      "--client-key", certs.Path("client.key")});
  auto no_cert = Client(coord["grpc"], "model=iris", "no-cert.jsonl",
                        {"--ca-cert", certs.Path("ca.pem")});
  auto stranger = Client(coord["grpc"], "model=iris", "stranger.jsonl",
                         {"--ca-cert", certs.Path("ca.pem"), "--client-cert",
                          certs.Path("stranger.pem"), "--client-key", certs.Path("stranger.key")});
  ASSERT_TRUE(keda && no_cert && stranger);

  // KEDA reads iris's replicas (the pod's report made them fresh) and its activity stream.
  ASSERT_TRUE(Eventually([&] { return EventsOf("poll", 0, "keda.jsonl").size() >= 3; }, 30s))
      << keda->stderr_text();
  EXPECT_EQ(EventsOf("poll", 0, "keda.jsonl").back()["metric"],
            "lagscale-model-iris-desiredreplicas");
  EXPECT_GE(EventsOf("poll", 0, "keda.jsonl").back()["value"].get<double>(), 1);
  EXPECT_TRUE(Eventually([&] { return !EventsOf("active", 0, "keda.jsonl").empty(); }, 10s));
  // By then the others have tried as often and been refused in the handshake, every time.
  for (const std::string events : {"no-cert.jsonl", "stranger.jsonl"}) {
    ASSERT_TRUE(Eventually([&] { return EventsOf("error", 0, events).size() >= 3; }, 10s))
        << events;
    EXPECT_TRUE(EventsOf("poll", 0, events).empty()) << events;
    EXPECT_TRUE(EventsOf("active", 0, events).empty()) << events;
    for (const json& e : EventsOf("error", 0, events)) {
      EXPECT_EQ(e["code"], "UNAVAILABLE") << events << ": " << e.dump();
    }
  }
}

TEST_F(KedaScalerTest, TargetClaimedByKedaAndTheCoordinatorStopsStartUp) {
  std::ofstream(dir_ / "twice.yaml") << R"(servers:
  - name: mlserver
    placement: all
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver, namespace: ml}
models:
  - name: iris
    actuator: keda
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver, namespace: ml}
)";
  auto child = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator",
                                    "--config", (dir_ / "twice.yaml").string(), "--grpc-listen",
                                    "127.0.0.1:0", "--http-listen", "127.0.0.1:0"});
  ASSERT_TRUE(child);
  EXPECT_EQ(child->Wait(10s), 2);
  const std::string err = child->stderr_text();
  EXPECT_NE(err.find("config: models[0].actuator: \"iris\" is scaled by KEDA, but its target "
                     "Deployment ml/mlserver (apps/v1) is also written by the coordinator for "
                     "servers[0] \"mlserver\""),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace lagscale::testing
