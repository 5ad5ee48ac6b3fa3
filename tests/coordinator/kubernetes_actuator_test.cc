#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/kubernetes.h"
#include "support/k8s_emulator.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;
using testing::KubeEmulator;
using testing::ScriptedReply;
using testing::TestPki;

const std::string kScalePath =
    "/apis/mlops.seldon.io/v1alpha1/namespaces/seldon-mesh/models/iris/scale";

std::string B64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A kubeconfig whose current context points at the emulator; `user` is the YAML of the user.
std::string WriteKubeconfig(const TestPki& pki, const KubeEmulator& api, const std::string& user) {
  const std::string path = pki.Path("kubeconfig");
  std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                      << "contexts:\n- name: test\n  context: {cluster: emu, user: me}\n"
                      << "clusters:\n- name: emu\n  cluster:\n    server: " << api.url() << "\n"
                      << "    certificate-authority-data: " << B64(pki.ca_pem) << "\n"
                      << "users:\n- name: me\n  user:\n"
                      << user;
  return path;
}

ScaleRequest IrisTo(int replicas) {
  ScaleRequest r;
  r.kind = TargetKind::kModel;
  r.name = "iris";
  r.server = "mlserver";
  r.name_space = "seldon-mesh";
  r.target = MakeScaleTarget("mlops.seldon.io/v1alpha1", "Model", "iris", "seldon-mesh");
  r.from = 2;
  r.to = replicas;
  r.reason = "test";
  return r;
}

ActuationReport WaitResult(ActuationWorker& worker, std::chrono::milliseconds timeout = 10s) {
  ActuationReport report;
  EXPECT_TRUE(Eventually([&] { return worker.PollResult(report); }, timeout));
  return report;
}

class KubernetesActuatorTest : public ::testing::Test {
 protected:
  TestPki pki;
  KubeEmulator api{pki};
};

TEST_F(KubernetesActuatorTest, PatchesScaleSubresourceWithMergePatchAndBearerToken) {
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 2)});
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 5)});
  auto actuator = MakeKubernetesActuator(
      KubeconfigConnection(WriteKubeconfig(pki, api, "    token: secret-token\n")));
  const ActuationResult r = actuator->Apply(IrisTo(5));
  EXPECT_EQ(r.status, ActuationResult::Status::kOk) << r.error;
  EXPECT_EQ(r.observed_replicas, 5);
  const auto reqs = api.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, kScalePath);
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer secret-token");
  EXPECT_EQ(reqs[0].headers.at("accept"), "application/json");
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].target, kScalePath);
  EXPECT_EQ(reqs[1].headers.at("authorization"), "Bearer secret-token");
  EXPECT_EQ(reqs[1].headers.at("content-type"), "application/merge-patch+json");
  EXPECT_EQ(nlohmann::json::parse(reqs[1].body),
            nlohmann::json::parse(R"({"spec":{"replicas":5}})"));
  EXPECT_FALSE(reqs[1].client_certificate);
}

TEST_F(KubernetesActuatorTest, DeploymentAndStatefulSetPathsUseTheirGroups) {
  auto actuator =
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n")));
  api.SetHandler([](const testing::RecordedRequest&) {
    return ScriptedReply{200, KubeEmulator::ScaleJson("web", "prod", 3)};
  });
  ScaleRequest r = IrisTo(3);
  r.target = MakeScaleTarget("apps/v1", "Deployment", "web", "prod");
  EXPECT_EQ(actuator->Apply(r).status, ActuationResult::Status::kOk);
  r.target = MakeScaleTarget("apps/v1", "StatefulSet", "db", "prod");
  EXPECT_EQ(actuator->Apply(r).status, ActuationResult::Status::kOk);
  const auto reqs = api.Requests();
  ASSERT_EQ(reqs.size(), 2u);  // both already had 3 replicas: read, no write
  EXPECT_EQ(reqs[0].target, "/apis/apps/v1/namespaces/prod/deployments/web/scale");
  EXPECT_EQ(reqs[1].target, "/apis/apps/v1/namespaces/prod/statefulsets/db/scale");
}

TEST_F(KubernetesActuatorTest, ClientCertificateUserAuthenticatesWithoutToken) {
  std::ofstream(pki.Path("client.pem")) << pki.client_cert_pem;
  const std::string user = "    client-certificate: " + pki.Path("client.crt") +
                           "\n    client-key-data: " + B64(pki.client_key_pem) + "\n";
  auto actuator = MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, user)));
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 1)});
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 4)});
  EXPECT_EQ(actuator->Apply(IrisTo(4)).status, ActuationResult::Status::kOk);
  const auto reqs = api.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[1].client_certificate);
  EXPECT_EQ(reqs[1].headers.count("authorization"), 0u);
}

TEST_F(KubernetesActuatorTest, InClusterUsesServiceAccountTokenAndCa) {
  std::ofstream(pki.Path("token")) << "sa-token\n";
  std::ofstream(pki.Path("ca.crt.sa")) << pki.ca_pem;
  std::filesystem::create_directory(pki.Path("sa"));
  std::ofstream(pki.Path("sa/token")) << "sa-token\n";
  std::ofstream(pki.Path("sa/ca.crt")) << pki.ca_pem;
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", std::to_string(api.port()).c_str(), 1);
  auto actuator = MakeKubernetesActuator(InClusterConnection(pki.Path("sa")));
  unsetenv("KUBERNETES_SERVICE_HOST");
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 3)});
  EXPECT_EQ(actuator->Apply(IrisTo(3)).status, ActuationResult::Status::kOk);
  ASSERT_EQ(api.RequestCount(), 1u);
  EXPECT_EQ(api.Requests()[0].headers.at("authorization"), "Bearer sa-token");
}

TEST_F(KubernetesActuatorTest, RefusesAServerItsCaDidNotSign) {
  TestPki other;
  KubeConnection c;
  c.server = api.url();
  c.ca_pem = other.ca_pem;
  c.token = "t";
  auto actuator = MakeKubernetesActuator(c);
  const ActuationResult r = actuator->Apply(IrisTo(3));
  EXPECT_EQ(r.status, ActuationResult::Status::kRetry);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_EQ(api.RequestCount(), 0u);
}

TEST_F(KubernetesActuatorTest, ForbiddenAndNotFoundFailWithoutRetry) {
  for (int code : {403, 404}) {
    TestPki local_pki;
    KubeEmulator local(local_pki);
    local.Push(
        {code, KubeEmulator::StatusJson(code, code == 403 ? "Forbidden" : "NotFound", "nope")});
    ActuationWorker worker(MakeKubernetesActuator(KubeconfigConnection(
                               WriteKubeconfig(local_pki, local, "    token: t\n"))),
                           WorkerOptions{0.01, 0.01, 0.05, 5});
    worker.Submit(IrisTo(3));
    const ActuationReport report = WaitResult(worker);
    EXPECT_EQ(report.result.status, ActuationResult::Status::kFailed);
    EXPECT_EQ(report.result.http_status, code);
    EXPECT_NE(report.result.error.find("nope"), std::string::npos) << report.result.error;
    // A retry would come within the 10-50 ms backoff; none may come at all.
    EXPECT_FALSE(Eventually([&] { return local.RequestCount() > 1; }, 300ms));
  }
}

// A new leader's hold: what the target runs may have grown since the term's first read (a write
// of the old leader landing late); the write reads first and never lowers it.
TEST_F(KubernetesActuatorTest, InAHandOverHoldAWriteNeverLowersWhatTheTargetRuns) {
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 10)});
  ActuationWorker worker(
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n"))),
      WorkerOptions{0.01, 0.01, 0.05, 5});
  ScaleRequest held = IrisTo(3);
  held.never_lower = true;
  worker.Submit(held);
  const ActuationReport report = WaitResult(worker);
  EXPECT_EQ(report.result.status, ActuationResult::Status::kSkipped);
  EXPECT_EQ(report.result.observed_replicas, 10);
  EXPECT_NE(report.result.error.find("hand-over hold"), std::string::npos) << report.result.error;
  ASSERT_EQ(api.Requests().size(), 1u);
  EXPECT_EQ(api.Requests()[0].method, "GET");
}

// Decisions that keep changing during an outage do not restart the backoff: each retry waits
// longer than the one before, as for one decision.
TEST_F(KubernetesActuatorTest, ANewerDecisionKeepsTheBackoffItsTargetEarned) {
  for (int i = 0; i < 5; ++i) {
    api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 2)});
    api.Push({503, KubeEmulator::StatusJson(503, "ServiceUnavailable", "down")});
  }
  ActuationWorker worker(
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n"))),
      WorkerOptions{0.01, 0.1, 30, 10});
  worker.Submit(IrisTo(3));
  for (int to = 4; to <= 7; ++to) {
    EXPECT_EQ(WaitResult(worker).result.status, ActuationResult::Status::kRetry);
    worker.Submit(IrisTo(to));  // the load moved on: a new decision for the same target
  }
  EXPECT_EQ(WaitResult(worker).result.status, ActuationResult::Status::kRetry);
  std::vector<testing::RecordedRequest> patches;
  for (const auto& r : api.Requests()) {
    if (r.method == "PATCH") patches.push_back(r);
  }
  ASSERT_EQ(patches.size(), 5u);
  // Backoffs of 0.1, 0.2, 0.4 and 0.8 s: the last gap is at least 0.8 s (0.1 s on a reset).
  EXPECT_GE(patches[4].at - patches[3].at, 750ms);
  EXPECT_EQ(patches[4].body, R"({"spec":{"replicas":7}})");
}

TEST_F(KubernetesActuatorTest, RetriesTooManyRequestsAfterRetryAfter) {
  api.Push(
      {429, KubeEmulator::StatusJson(429, "TooManyRequests", "slow down"), {{"Retry-After", "1"}}});
  api.Push({500, KubeEmulator::StatusJson(500, "InternalError", "boom")});
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 2)});
  api.Push({409, KubeEmulator::StatusJson(409, "Conflict", "changed")});
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 2)});
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 6)});
  ActuationWorker worker(
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n"))),
      WorkerOptions{0.01, 0.01, 0.05, 10});
  worker.Submit(IrisTo(6));
  std::vector<int> codes;
  ActuationReport report;
  do {
    report = WaitResult(worker);
    codes.push_back(report.result.http_status);
  } while (report.result.status == ActuationResult::Status::kRetry);
  EXPECT_EQ(report.result.status, ActuationResult::Status::kOk) << report.result.error;
  EXPECT_EQ(report.result.observed_replicas, 6);
  EXPECT_EQ(codes, (std::vector<int>{429, 500, 409, 200}));
  const auto reqs = api.Requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(950));  // Retry-After: 1
  EXPECT_EQ(reqs[5].method, "PATCH");
}

// The actuator reads the Scale it gets: a body over the client's limit is no answer (retried),
// and the error says what the API server did send.
TEST_F(KubernetesActuatorTest, ScaleOverTheBodyLimitIsAnErrorNamingTheStatus) {
  api.Push({200, std::string(kMaxHttpBodyBytes + 1, ' ')});
  auto actuator =
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n")));
  const ActuationResult r = actuator->Apply(IrisTo(5));
  EXPECT_EQ(r.status, ActuationResult::Status::kRetry);
  EXPECT_EQ(r.error, "GET " + kScalePath + ": HTTP 200 with a body over the 8 MiB limit");
  EXPECT_EQ(api.RequestCount(), 1u) << "nothing may be written on an unread Scale";
}

TEST_F(KubernetesActuatorTest, HangingApiTimesOutAndIsRetried) {
  api.Push(ScriptedReply{200, "", {}, /*hang=*/true});
  api.Push({200, KubeEmulator::ScaleJson("iris", "seldon-mesh", 3)});
  KubernetesOptions options;
  options.timeout_s = 0.3;
  ActuationWorker worker(
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n")),
                             options),
      WorkerOptions{0.01, 0.01, 0.05, 5});
  worker.Submit(IrisTo(3));
  ActuationReport first = WaitResult(worker);
  EXPECT_EQ(first.result.status, ActuationResult::Status::kRetry);
  EXPECT_NE(first.result.error.find("timed out"), std::string::npos) << first.result.error;
  ActuationReport second = WaitResult(worker);
  EXPECT_EQ(second.result.status, ActuationResult::Status::kOk) << second.result.error;
}

TEST_F(KubernetesActuatorTest, ReadsSeldonBoundsFromTheResource) {
  api.Push({200, R"({"kind":"Model","spec":{"replicas":2,"minReplicas":1,"maxReplicas":7}})"});
  auto actuator =
      MakeKubernetesActuator(KubeconfigConnection(WriteKubeconfig(pki, api, "    token: t\n")));
  const TargetReading r =
      actuator->Read(MakeScaleTarget("mlops.seldon.io/v1alpha1", "Model", "iris", "seldon-mesh"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.replicas, 2);
  EXPECT_EQ(r.min_replicas, 1);
  EXPECT_EQ(r.max_replicas, 7);
  EXPECT_EQ(api.Requests()[0].target,
            "/apis/mlops.seldon.io/v1alpha1/namespaces/seldon-mesh/models/iris");
}

TEST(KubeconfigTest, MissingContextIsNamed) {
  TestPki pki;
  std::ofstream(pki.Path("bad")) << "apiVersion: v1\ncurrent-context: nowhere\ncontexts: []\n";
  try {
    KubeconfigConnection(pki.Path("bad"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos) << e.what();
  }
}

// Found by fuzz_kubeconfig: a kubeconfig of the wrong shape (here a bare string, or a list where a
// context name belongs) escaped as yaml-cpp's message, which names neither the file nor the
// kubeconfig.
TEST(KubeconfigTest, WrongShapeIsReportedAsAKubeconfigError) {
  TestPki pki;
  for (const std::string& text :
       {std::string("just a string\n"),
        std::string("current-context: [a, b]\ncontexts: [{name: x}]\n"),
        std::string("current-context: x\ncontexts: [{name: {a: 1}, context: {}}]\n")}) {
    std::ofstream(pki.Path("shape")) << text;
    try {
      KubeconfigConnection(pki.Path("shape"));
      FAIL() << "expected an error for: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("kubeconfig", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(pki.Path("shape")), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lagscale::coordinator
