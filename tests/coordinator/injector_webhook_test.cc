#include "lagscale/coordinator/injector_webhook.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <CLI/CLI.hpp>

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

const char* kTemplate = R"({
  "container": {"name": "lagscale-sidecar", "image": "lagscale/lagscale-sidecar:0.1.0",
    "env": [{"name": "LAGSCALE_LISTEN", "value": "0.0.0.0:8000"},
            {"name": "LAGSCALE_ADMIN", "value": "0.0.0.0:9090"}],
    "ports": [{"name": "lagscale-http", "containerPort": 8000, "protocol": "TCP"},
              {"name": "lagscale-admin", "containerPort": 9090, "protocol": "TCP"}]},
  "ports": {"http": 8000, "grpc": 0, "admin": 9090, "upstreamHttp": 9000, "upstreamGrpc": 9001}
})";

std::string Unbase64(const std::string& in) {
  std::string out(in.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n - std::count(in.end() - 2, in.end(), '='));
  return out;
}

json Review(json request) {
  return {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}};
}

json PodCreate(const std::string& uid, json pod) {
  return Review({{"uid", uid},
                 {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                 {"operation", "CREATE"},
                 {"namespace", "demo"},
                 {"object", pod}});
}

json Pod(json annotations = json::object()) {
  return {{"metadata", {{"name", "echo"}, {"annotations", annotations}}},
          {"spec", {{"containers", {{{"name", "server"}}}}}}};
}

class InjectorWebhookTest : public ::testing::Test {
 protected:
  HttpReply Send(const json& review) { return Send(review.dump()); }
  HttpReply Send(const std::string& body) {
    return ReviewAdmission(body, tmpl_, SidecarMode::kNative, metrics_);
  }
  bool Counted(const std::string& result, int n) {
    return metrics_.Render().find("lagscale_coordinator_injections_total{result=\"" + result +
                                  "\"} " + std::to_string(n)) != std::string::npos;
  }
  SidecarTemplate tmpl_ = ParseSidecarTemplate(kTemplate);
  CoordinatorMetrics metrics_;
};

TEST_F(InjectorWebhookTest, InjectionAnswersTheSameUidWithABase64JsonPatch) {
  const HttpReply reply = Send(PodCreate("uid-1", Pod()));
  ASSERT_EQ(reply.status, 200);
  const json review = json::parse(reply.body);
  EXPECT_EQ(review["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(review["kind"], "AdmissionReview");
  EXPECT_EQ(review["response"]["uid"], "uid-1");
  EXPECT_EQ(review["response"]["allowed"], true);
  EXPECT_EQ(review["response"]["patchType"], "JSONPatch");
  const json patch = json::parse(Unbase64(review["response"]["patch"]));
  const json pod = Pod().patch(patch);
  EXPECT_EQ(pod["spec"]["initContainers"][0]["name"], "lagscale-sidecar");
  EXPECT_TRUE(Counted("injected", 1));
}

TEST_F(InjectorWebhookTest, ABadAnnotationAdmitsThePodUnchangedAndIsCounted) {
  const HttpReply reply = Send(PodCreate("uid-2", Pod({{"lagscale.io/http-port", "x"}})));
  ASSERT_EQ(reply.status, 200);
  const json response = json::parse(reply.body)["response"];
  EXPECT_EQ(response["uid"], "uid-2");
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_FALSE(response.contains("patchType"));
  EXPECT_TRUE(Counted("skipped_bad_annotation", 1));
}

TEST_F(InjectorWebhookTest, OtherKindsAndOperationsAreAllowedUntouched) {
  json update = PodCreate("uid-3", Pod());
  update["request"]["operation"] = "UPDATE";
  json deployment = PodCreate("uid-4", Pod());
  deployment["request"]["kind"] = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  for (const json& review : {update, deployment}) {
    const json response = json::parse(Send(review).body)["response"];
    EXPECT_EQ(response["allowed"], true);
    EXPECT_FALSE(response.contains("patch"));
  }
  EXPECT_TRUE(Counted("ignored", 2));
}

TEST_F(InjectorWebhookTest, MalformedReviewsGetA400ThatSaysWhy) {
  const std::pair<std::string, std::string> cases[] = {
      {"{not json", "body is not JSON"},
      {R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}})",
       "expected apiVersion admission.k8s.io/v1, kind AdmissionReview"},
      {Review({{"kind", {{"kind", "Pod"}}}}).dump(), "request.uid is missing"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","x":)" +
           std::string(300, '[') + std::string(300, ']') + "}}",
       "body nests deeper than 256 levels"},
  };
  for (const auto& [body, why] : cases) {
    const HttpReply reply = Send(body);
    EXPECT_EQ(reply.status, 400) << body;
    EXPECT_EQ(json::parse(reply.body)["error"], why);
  }
  EXPECT_TRUE(Counted("invalid_review", 4));
}

TEST_F(InjectorWebhookTest, APodWithFieldsOfTheWrongTypeIsAdmittedUnchanged) {
  json pod = Pod();
  pod["spec"]["hostNetwork"] = "yes";
  const HttpReply reply = Send(PodCreate("uid-5", pod));
  ASSERT_EQ(reply.status, 200);
  const json response = json::parse(reply.body)["response"];
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_TRUE(Counted("skipped_invalid_pod", 1));
}

TEST(InjectorFlagsTest, IncompleteFlagsStopStartUpNamingTheFlag) {
  CoordinatorMetrics metrics;
  const auto error = [&](std::vector<std::string> args) -> std::string {
    CLI::App app;
    InjectorFlags flags;
    AddInjectorFlags(app, flags);
    std::vector<const char*> argv{"x"};
    for (auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    try {
      StartInjector(flags, metrics);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error({}), "");
  EXPECT_EQ(error({"--webhook-listen", "127.0.0.1:0"}),
            "--webhook-cert: required with --webhook-listen");
  EXPECT_EQ(error({"--webhook-cert", "c.pem"}), "--webhook-cert: needs --webhook-listen");
  EXPECT_EQ(error({"--webhook-listen", "127.0.0.1:0", "--webhook-cert", "/nonexistent/c.pem",
                   "--webhook-key", "k.pem", "--webhook-sidecar-template", "/nonexistent/s.json"}),
            "--webhook-sidecar-template: cannot read \"/nonexistent/s.json\"");
}

}  // namespace
}  // namespace lagscale::coordinator
