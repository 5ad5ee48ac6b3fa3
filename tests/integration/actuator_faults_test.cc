// The real lagscale-coordinator with the kubernetes actuator against the Kubernetes API emulator
// when the API misbehaves: 429 with Retry-After, 500, or a hang. Decisions go on (shown on
// /status), the actuator is shown unhealthy, retries back off (Retry-After honoured), and once
// the API answers again the Deployment converges to the newest decision.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "lagscale/v1/lag.grpc.pb.h"
#include "support/k8s_emulator.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

using namespace std::chrono_literals;

using nlohmann::json;

constexpr char kScalePath[] = "/apis/apps/v1/namespaces/default/deployments/iris/scale";

std::string B64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A sidecar stand-in holding model iris at a steady average concurrency of requests taking
// kServiceTime each, reported every 200 ms.
constexpr double kServiceTime = 0.5;
class SteadyReporter {
 public:
  explicit SteadyReporter(const std::string& address)
      : stub_(v1::LagService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        stream_(stub_->Report(&context_)) {
    acks_ = std::thread([this] {
      v1::ReportAck ack;
      while (stream_->Read(&ack)) {
      }
    });
    thread_ = std::thread([this] { Run(); });
  }
  ~SteadyReporter() {
    stop_ = true;
    thread_.join();
    stream_->WritesDone();
    acks_.join();
    stream_->Finish();
  }
  void set_concurrency(double c) { concurrency_ = c; }

 private:
  void Run() {
    int64_t last = NowNs();
    double busy = 0, flow = 0;
    uint64_t seq = 0, arrivals = 0;
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const int64_t now = NowNs();
      const double dt = static_cast<double>(now - last) / 1e9;
      busy += concurrency_.load() * dt;
      flow += concurrency_.load() * dt / kServiceTime;  // Little's law: requests served meanwhile
      arrivals = static_cast<uint64_t>(flow);
      last = now;
      v1::PodReport r;
      r.set_server("srv");
      r.set_pod("p");
      r.set_incarnation(3);
      r.set_sequence(++seq);
      r.set_snapshot_monotonic_ns(now);
      auto* m = r.add_models();
      m->set_model("iris");
      m->set_arrivals(arrivals);
      m->mutable_outcomes()->set_success(arrivals);
      m->set_busy_seconds(busy);
      if (!stream_->Write(r)) return;
    }
  }
  std::unique_ptr<v1::LagService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PodReport, v1::ReportAck>> stream_;
  std::atomic<double> concurrency_{4};
  std::atomic<bool> stop_{false};
  std::thread acks_, thread_;
};

enum class Api { kOk, kTooMany, kError, kHang };

class ActuatorFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_.SetHandler([this](const RecordedRequest& req) {
      std::lock_guard lock(mu_);
      if (req.method == "PATCH") {
        const json body = json::parse(req.body, nullptr, false);
        if (mode_ == Api::kOk && body.is_object()) replicas_ = body["spec"]["replicas"].get<int>();
      }
      switch (mode_) {
        case Api::kTooMany:
          return ScriptedReply{429,
                               KubeEmulator::StatusJson(429, "TooManyRequests", "slow"),
                               {{"Retry-After", "1"}}};
        case Api::kError:
          return ScriptedReply{500, KubeEmulator::StatusJson(500, "InternalError", "boom")};
        case Api::kHang:
          return ScriptedReply{200, "", {}, /*hang=*/true};
        case Api::kOk:
          break;
      }
      return ScriptedReply{200, KubeEmulator::ScaleJson("iris", "default", replicas_)};
    });
    const std::string kubeconfig = pki_.Path("kubeconfig");
    std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                              << "contexts:\n- name: test\n  context: {cluster: emu, user: me}\n"
                              << "clusters:\n- name: emu\n  cluster:\n    server: " << api_.url()
                              << "\n    certificate-authority-data: " << B64(pki_.ca_pem) << "\n"
                              << "users:\n- name: me\n  user:\n    token: t\n";
    const std::string config = pki_.Path("config.yaml");
    std::ofstream(config) << R"(reportTTL: 3s
decisionInterval: 100ms
windows: [1s]
defaults:
  minReplicas: 1
  maxReplicas: 30
  targetConcurrency: 1
  stableWindow: 1s
  panicWindow: 1s
  scaleDownDelay: 1s
  flapWindow: 1s
  maxScaleDownDelay: 1s
  maxScaleUpRate: 100
  maxScaleDownRate: 100
models:
  - name: iris
    target: {apiVersion: apps/v1, kind: Deployment, name: iris, namespace: default}
)";
    std::map<std::string, std::string> ready;
    coordinator_ =
        StartReady("lagscale-coordinator",
                   {"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--config",
                    config, "--actuator", "kubernetes", "--kubeconfig", kubeconfig},
                   ready);
    ASSERT_TRUE(coordinator_);
    grpc_ = ready["grpc"];
    http_ = ready["http"];
  }

  void SetMode(Api mode) {
    std::lock_guard lock(mu_);
    mode_ = mode;
  }
  int Replicas() {
    std::lock_guard lock(mu_);
    return replicas_;
  }
  json Status() {
    const HttpResponse r = HttpGet(http_, "/status");
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  }
  int Desired() {
    const json s = Status();
    if (!s.is_object()) return -1;
    for (const auto& m : s["models"]) {
      if (m["name"] == "iris") return m["desired_replicas"].get<int>();
    }
    return -1;
  }
  bool Healthy() {
    const json s = Status();
    return s.is_object() && s["actuator"]["healthy"].get<bool>();
  }

  TestPki pki_;
  KubeEmulator api_{pki_};
  std::mutex mu_;  // guards mode_ and replicas_
  Api mode_ = Api::kOk;
  int replicas_ = 1;
  std::unique_ptr<ChildProcess> coordinator_;
  std::string grpc_, http_;
};

TEST_F(ActuatorFaultsTest, DecisionsGoOnWhileTheApiFailsAndConvergeWhenItIsBack) {
  SteadyReporter reporter(grpc_);
  reporter.set_concurrency(4);
  ASSERT_TRUE(Eventually([&] { return Replicas() == 4; }, 30s)) << Status().dump();
  EXPECT_TRUE(Healthy());

  const std::pair<Api, int> phases[] = {{Api::kTooMany, 9}, {Api::kError, 6}, {Api::kHang, 12}};
  for (const auto& phase : phases) {
    const Api failure = phase.first;
    const int next = phase.second;
    SCOPED_TRACE(next);
    SetMode(failure);
    const size_t seen = api_.RequestCount();
    const auto started = std::chrono::steady_clock::now();
    reporter.set_concurrency(static_cast<double>(next));
    // The decision moves although it cannot be written, and the actuator shows unhealthy.
    EXPECT_TRUE(Eventually([&] { return std::abs(Desired() - next) <= 1; }, 20s))
        << Status().dump();
    EXPECT_TRUE(Eventually([&] { return !Healthy(); }, 30s)) << Status().dump();
    EXPECT_TRUE(Eventually([&] { return api_.RequestCount() > seen; }, 20s));
    // Retries back off (Retry-After, exponential back-off, a 1 s minimum per target): a few
    // requests a second at most, never a busy loop.
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_LE(static_cast<double>(api_.RequestCount() - seen), 4 + 3 * seconds);
    EXPECT_EQ(Replicas(), 4);  // nothing written while the API fails
  }
  SetMode(Api::kOk);
  EXPECT_TRUE(
      Eventually([&] { return std::abs(Replicas() - 12) <= 1 && Replicas() == Desired(); }, 60s))
      << Status().dump();
  EXPECT_TRUE(Eventually([&] { return Healthy(); }, 20s)) << Status().dump();
}

// A kubeconfig user's tokenFile that is not there stops start-up naming it, as a missing
// service-account token does in a cluster; before, every request went without a token (401s).
TEST(KubeconfigStartUpTest, ATokenFileThatCannotBeReadStopsStartUpNamingIt) {
  ScratchDir dir("kubeconfig");
  const std::string token = dir.Path("no-such-token");
  std::ofstream(dir.Path("kubeconfig"))
      << "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
      << "contexts:\n- name: c\n  context: {cluster: k, user: me}\n"
      << "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
      << "users:\n- name: me\n  user:\n    tokenFile: " << token << "\n";
  auto c =
      ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator", "--grpc-listen",
                           "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--actuator",
                           "kubernetes", "--kubeconfig", dir.Path("kubeconfig")});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Wait(), 2) << c->stderr_text();
  EXPECT_NE(
      c->stderr_text().find("kubeconfig: user \"me\": tokenFile: cannot read \"" + token + "\""),
      std::string::npos)
      << c->stderr_text();
}

}  // namespace
}  // namespace lagscale::testing
