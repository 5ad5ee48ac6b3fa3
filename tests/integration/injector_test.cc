// The injection webhook of the real lagscale-coordinator binary over real HTTPS: certificates
// made by openssl, the golden AdmissionReviews of tests/integration/injector_reviews/ (with the
// sidecar template the chart renders, kept identical by tests/chart/injector.mjs), the returned
// JSON Patch applied by python3-jsonpatch, certificate rotation, malformed reviews.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/command.h"
#include "support/https_client.h"
#include "support/process.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kReviews = fs::path(LAGSCALE_SOURCE_DIR) / "tests/integration/injector_reviews";

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Spit(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// Runs a shell command; returns its stdout, or nullopt (its stderr shown) when it exits non-zero.
std::optional<std::string> Shell(const std::string& command) {
  const CommandResult result = RunShell(command);
  if (!result.ok()) {
    ADD_FAILURE() << command << " exited " << result.exit_code << ": " << result.err;
    return std::nullopt;
  }
  return result.out;
}

std::string Unbase64(const std::string& in) {
  std::string out(in.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return "";
  out.resize(n - std::count(in.end() - std::min<size_t>(2, in.size()), in.end(), '='));
  return out;
}

json Env(const json& container) {
  json out = json::object();
  for (const auto& e : container["env"])
    out[e["name"].get<std::string>()] = e.value("value", json());
  return out;
}

class InjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        Openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                "-subj /CN=lagscale-test-ca -keyout ca.key -out ca.pem"));
    ASSERT_TRUE(IssueServingCertificate("tls.crt", "tls.key"));
    coordinator_ = StartReady(
        "lagscale-coordinator",
        {"--grpc-listen=127.0.0.1:0", "--http-listen=127.0.0.1:0", "--webhook-listen=127.0.0.1:0",
         "--webhook-cert=" + (dir_.path() / "tls.crt").string(),
         "--webhook-key=" + (dir_.path() / "tls.key").string(),
         "--webhook-sidecar-template=" + (kReviews / "sidecar.json").string()},
        addresses_);
    ASSERT_NE(coordinator_, nullptr);
    ASSERT_TRUE(addresses_.count("webhook")) << "ready line names no webhook address";
  }
  void TearDown() override {
    if (HasFailure() && coordinator_) std::cerr << coordinator_->stderr_text();
  }

  bool Openssl(const std::string& args) {
    return RunShell("cd '" + dir_.path().string() + "' && openssl " + args).ok();
  }
  // A key and a certificate for IP 127.0.0.1 signed by the test CA, written as `crt`/`key`.
  bool IssueServingCertificate(const std::string& crt, const std::string& key) {
    Spit(dir_.path() / "san.ext", "subjectAltName=IP:127.0.0.1\n");
    return Openssl(
               "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=webhook "
               "-keyout " +
               key + " -out serving.csr") &&
           Openssl(
               "x509 -req -in serving.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
               "-extfile san.ext -out " +
               crt);
  }
  HttpsResult Post(const std::string& body, const std::string& target = "/inject") {
    return Https("POST", addresses_["webhook"], target, body, (dir_.path() / "ca.pem").string());
  }
  // Applies a JSON Patch with python3-jsonpatch (RFC 6902), as a second implementation.
  json Apply(const json& pod, const json& patch) {
    Spit(dir_.path() / "pod.json", pod.dump());
    Spit(dir_.path() / "patch.json", patch.dump());
    const auto out = Shell(
        "python3 -c 'import json, sys, jsonpatch; "
        "doc = json.load(open(sys.argv[1])); ops = json.load(open(sys.argv[2])); "
        "print(json.dumps(jsonpatch.apply_patch(doc, ops)))' '" +
        (dir_.path() / "pod.json").string() + "' '" + (dir_.path() / "patch.json").string() + "'");
    EXPECT_TRUE(out) << "python3-jsonpatch rejected the patch " << patch.dump();
    return out ? json::parse(*out) : json();
  }
  std::string Metrics() { return HttpGet(addresses_["http"], "/metrics").body; }

  ScratchDir dir_{"injector"};
  std::map<std::string, std::string> addresses_;
  std::unique_ptr<ChildProcess> coordinator_;
};

// What the sidecar must look like for one golden case's expected settings.
void ExpectSidecar(const json& pod, const json& original, const json& settings) {
  const json& spec = pod["spec"];
  const json& inits = spec["initContainers"];
  ASSERT_TRUE(inits.is_array());
  const json& original_inits = original["spec"].value("initContainers", json::array());
  ASSERT_EQ(inits.size(), original_inits.size() + 1);
  for (size_t i = 0; i < original_inits.size(); ++i) EXPECT_EQ(inits[i], original_inits[i]);
  const json& c = inits.back();
  EXPECT_EQ(c["name"], "lagscale-sidecar");
  EXPECT_EQ(c["restartPolicy"], "Always");
  EXPECT_EQ(c["startupProbe"]["httpGet"]["port"], "lagscale-admin");
  const json env = Env(c);
  const auto port = [&](const char* key, int fallback) {
    return std::to_string(settings.value(key, fallback));
  };
  EXPECT_EQ(env["LAGSCALE_LISTEN"], "0.0.0.0:" + port("httpPort", 8000));
  EXPECT_EQ(env["LAGSCALE_UPSTREAM"], "127.0.0.1:" + port("upstreamHttpPort", 9000));
  EXPECT_EQ(env["LAGSCALE_GRPC_LISTEN"], "0.0.0.0:" + port("grpcPort", 8001));
  EXPECT_EQ(env["LAGSCALE_GRPC_UPSTREAM"], "127.0.0.1:" + port("upstreamGrpcPort", 9001));
  EXPECT_EQ(env["LAGSCALE_ADMIN"], "0.0.0.0:" + port("adminPort", 9090));
  EXPECT_EQ(env["LAGSCALE_SERVER_NAME"], settings["serverName"]);
  EXPECT_TRUE(env.contains("POD_NAME"));
  EXPECT_EQ(c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
  EXPECT_EQ(spec["containers"], original["spec"]["containers"]);
  // The token volume the sidecar mounts, next to the pod's own volumes.
  const json& volumes = spec["volumes"];
  ASSERT_TRUE(volumes.is_array());
  EXPECT_EQ(volumes.back()["name"], "lagscale-auth");
  EXPECT_EQ(volumes.size(), original["spec"].value("volumes", json::array()).size() + 1);
  const json& annotations = pod["metadata"]["annotations"];
  EXPECT_EQ(annotations["prometheus.io/scrape"], "true");
  EXPECT_EQ(annotations["prometheus.io/port"], port("adminPort", 9090));
  const json before = original["metadata"].value("annotations", json::object());
  for (const auto& [k, v] : before.items()) {
    EXPECT_EQ(annotations[k], v) << "annotation " << k << " changed";
  }
}

TEST_F(InjectorTest, GoldenReviewsOverHttpsGiveTheExpectedPods) {
  std::map<std::string, int> counts;
  for (const auto& entry : fs::directory_iterator(kReviews)) {
    if (entry.path().filename() == "sidecar.json") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const json golden = json::parse(Slurp(entry.path()));
    const json& expect = golden["expect"];
    const HttpsResult r = Post(golden["review"].dump());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    const json response = json::parse(r.body)["response"];
    EXPECT_EQ(response["uid"], golden["review"]["request"]["uid"]);
    EXPECT_EQ(response["allowed"], true);
    ++counts[expect["result"]];
    if (expect["result"] != "injected") {
      EXPECT_FALSE(response.contains("patch")) << response.dump();
      EXPECT_FALSE(response.contains("patchType"));
      continue;
    }
    ASSERT_EQ(response["patchType"], "JSONPatch");
    const json patch = json::parse(Unbase64(response["patch"]), nullptr, false);
    ASSERT_TRUE(patch.is_array()) << "patch is not base64 JSON";
    const json& original = golden["review"]["request"]["object"];
    ExpectSidecar(Apply(original, patch), original, expect["settings"]);
    // Idempotent: the injected pod sent again (reinvocation) is left alone.
    json again = golden["review"];
    again["request"]["object"] = Apply(original, patch);
    const json second = json::parse(Post(again.dump()).body)["response"];
    EXPECT_FALSE(second.contains("patch"));
    ++counts["skipped_already_injected"];
  }
  ASSERT_GE(counts["injected"], 3);
  const std::string metrics = Metrics();
  for (const auto& [result, n] : counts) {
    EXPECT_NE(metrics.find("lagscale_coordinator_injections_total{result=\"" + result + "\"} " +
                           std::to_string(n)),
              std::string::npos)
        << result << " x" << n << " in\n"
        << metrics;
  }
  const std::string log = coordinator_->stderr_text();
  EXPECT_NE(log.find("lagscale.io/http-port: invalid value \"80a\""), std::string::npos) << log;
  EXPECT_NE(log.find("port 8000 is already a port of container \"tritonserver\""),
            std::string::npos);
}

TEST_F(InjectorTest, MalformedReviewGets400AndTheWebhookKeepsServing) {
  HttpsResult r = Post("{\"apiVersion\": ");
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(json::parse(r.body)["error"], "body is not JSON");
  r = Post(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"], "request.uid is missing");
  // 100,000 nested arrays in 200 KB: copying that value overflowed the webhook thread's stack and
  // took the whole coordinator down.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  r = Post(
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","x":)" +
      deep + "}}");
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(json::parse(r.body)["error"], "body nests deeper than 256 levels");
  EXPECT_EQ(Post("{}", "/mutate").status, 404);
  EXPECT_EQ(
      Https("GET", addresses_["webhook"], "/inject", "", (dir_.path() / "ca.pem").string()).status,
      405);
  // Plain HTTP on the TLS port is a failed handshake for that connection only.
  EXPECT_EQ(Http("POST", addresses_["webhook"], "/inject", "{}").status, 0);
  const json golden = json::parse(Slurp(kReviews / "plain-pod.json"));
  r = Post(golden["review"].dump());
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(json::parse(r.body)["response"].contains("patch"));
  EXPECT_NE(Metrics().find("lagscale_coordinator_injections_total{result=\"invalid_review\"} 3"),
            std::string::npos);
}

TEST_F(InjectorTest, RotatedCertificateIsServedAfterTheFilesChange) {
  const std::string first = Post("{}").peer_serial;
  ASSERT_FALSE(first.empty());
  // Written aside and renamed into place, as the kubelet swaps a Secret volume's files.
  ASSERT_TRUE(IssueServingCertificate("new.crt", "new.key"));
  fs::rename(dir_.path() / "new.key", dir_.path() / "tls.key");
  fs::rename(dir_.path() / "new.crt", dir_.path() / "tls.crt");
  std::string served;
  EXPECT_TRUE(Eventually([&] {
    served = Post("{}").peer_serial;
    return !served.empty() && served != first;
  })) << "still serving "
      << served;
  const std::string expected =
      Shell("openssl x509 -noout -serial -in '" + (dir_.path() / "tls.crt").string() + "'")
          .value_or("");
  EXPECT_EQ("serial=" + served + "\n", expected);
  EXPECT_NE(coordinator_->stderr_text().find("webhook: serving the new certificate"),
            std::string::npos);
}

TEST_F(InjectorTest, AKeyThatDoesNotMatchTheCertificateStopsStartUp) {
  ASSERT_TRUE(IssueServingCertificate("other.crt", "other.key"));
  auto bad = ChildProcess::Start(
      {std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator", "--grpc-listen=127.0.0.1:0",
       "--http-listen=127.0.0.1:0", "--webhook-listen=127.0.0.1:0",
       "--webhook-cert=" + (dir_.path() / "tls.crt").string(),
       "--webhook-key=" + (dir_.path() / "other.key").string(),
       "--webhook-sidecar-template=" + (kReviews / "sidecar.json").string()});
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->Wait(), 2);
  EXPECT_NE(bad->stderr_text().find("--webhook-cert/--webhook-key"), std::string::npos)
      << bad->stderr_text();
}

}  // namespace
}  // namespace lagscale::testing
