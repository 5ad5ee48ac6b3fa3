#include "lagscale/coordinator/injector.h"

#include <gtest/gtest.h>

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

// The shape the chart renders (templates/_injector.tpl), cut down to the fields under test.
const char* kTemplate = R"({
  "container": {
    "name": "lagscale-sidecar",
    "image": "lagscale/lagscale-sidecar:0.1.0",
    "env": [
      {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
      {"name": "LAGSCALE_LISTEN", "value": "0.0.0.0:8000"},
      {"name": "LAGSCALE_UPSTREAM", "value": "127.0.0.1:9000"},
      {"name": "LAGSCALE_GRPC_LISTEN", "value": "0.0.0.0:8001"},
      {"name": "LAGSCALE_GRPC_UPSTREAM", "value": "127.0.0.1:9001"},
      {"name": "LAGSCALE_GRPC_ENGINE", "value": "frames"},
      {"name": "LAGSCALE_ADMIN", "value": "0.0.0.0:9090"},
      {"name": "LAGSCALE_COORDINATOR", "value": "rel-lagscale.ml.svc:7070"},
      {"name": "LAGSCALE_MODEL_HEADER", "value": "seldon-model"}
    ],
    "ports": [
      {"name": "lagscale-http", "containerPort": 8000, "protocol": "TCP"},
      {"name": "lagscale-grpc", "containerPort": 8001, "protocol": "TCP"},
      {"name": "lagscale-admin", "containerPort": 9090, "protocol": "TCP"}
    ]
  },
  "volumes": [{"name": "lagscale-auth", "secret": {"secretName": "token"}}],
  "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                     "prometheus.io/path": "/metrics"},
  "skipPodLabels": {"app.kubernetes.io/name": "lagscale", "app.kubernetes.io/component": "coordinator"},
  "ports": {"http": 8000, "grpc": 8001, "admin": 9090, "upstreamHttp": 9000, "upstreamGrpc": 9001}
})";

SidecarTemplate Template() { return ParseSidecarTemplate(kTemplate); }

json Pod(json extra = json::object()) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "echo"}, {"labels", {{"app", "echo"}}}}},
              {"spec", {{"containers", {{{"name", "server"}, {"image", "srv"}}}}}}};
  pod.merge_patch(extra);
  return pod;
}

json Env(const json& container, const std::string& name) {
  for (const auto& e : container["env"]) {
    if (e["name"] == name) return e.contains("value") ? e["value"] : e["valueFrom"];
  }
  return nullptr;
}

json Ports(const json& container) {
  json out = json::object();
  for (const auto& p : container["ports"]) out[p["name"].get<std::string>()] = p["containerPort"];
  return out;
}

TEST(InjectorTest, PodWithoutInitContainersGetsTheArrayWithTheNativeSidecar) {
  const json pod = Pod();
  const Injection inj = InjectPod(pod, Template(), SidecarMode::kNative);
  ASSERT_EQ(inj.outcome, InjectOutcome::kInjected) << inj.detail;
  EXPECT_EQ(inj.patch[0]["path"], "/spec/initContainers");
  const json patched = pod.patch(inj.patch);
  ASSERT_EQ(patched["spec"]["initContainers"].size(), 1u);
  const json& c = patched["spec"]["initContainers"][0];
  EXPECT_EQ(c["name"], "lagscale-sidecar");
  EXPECT_EQ(c["restartPolicy"], "Always");
  EXPECT_EQ(c["startupProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(c["startupProbe"]["httpGet"]["port"], "lagscale-admin");
  EXPECT_EQ(Env(c, "POD_NAME"), json::parse(R"({"fieldRef":{"fieldPath":"metadata.name"}})"));
  EXPECT_EQ(Env(c, "LAGSCALE_SERVER_NAME"), "echo");
  EXPECT_EQ(patched["spec"]["containers"], pod["spec"]["containers"]);
}

TEST(InjectorTest, ExistingInitContainersKeepTheirPlaceAndTheSidecarIsAppended) {
  const json pod = Pod({{"spec", {{"initContainers", {{{"name", "rclone"}, {"image", "r"}}}}}}});
  const Injection inj = InjectPod(pod, Template(), SidecarMode::kNative);
  ASSERT_EQ(inj.outcome, InjectOutcome::kInjected);
  EXPECT_EQ(inj.patch[0]["path"], "/spec/initContainers/-");
  const json patched = pod.patch(inj.patch);
  ASSERT_EQ(patched["spec"]["initContainers"].size(), 2u);
  EXPECT_EQ(patched["spec"]["initContainers"][0]["name"], "rclone");
  EXPECT_EQ(patched["spec"]["initContainers"][1]["name"], "lagscale-sidecar");
}

TEST(InjectorTest, ContainerModeAddsAnOrdinaryContainerForOldClusters) {
  const json pod = Pod();
  const Injection inj = InjectPod(pod, Template(), SidecarMode::kContainer);
  ASSERT_EQ(inj.outcome, InjectOutcome::kInjected);
  const json patched = pod.patch(inj.patch);
  EXPECT_FALSE(patched["spec"].contains("initContainers"));
  ASSERT_EQ(patched["spec"]["containers"].size(), 2u);
  const json& c = patched["spec"]["containers"][1];
  EXPECT_EQ(c["name"], "lagscale-sidecar");
  EXPECT_FALSE(c.contains("restartPolicy"));
  EXPECT_FALSE(c.contains("startupProbe"));
}

TEST(InjectorTest, AnnotationsAndVolumesAreCreatedWhenThePodHasNone) {
  const json pod = Pod();
  const json patched = pod.patch(InjectPod(pod, Template(), SidecarMode::kNative).patch);
  EXPECT_EQ(patched["metadata"]["annotations"],
            json::parse(R"({"prometheus.io/scrape":"true","prometheus.io/port":"9090",
                            "prometheus.io/path":"/metrics"})"));
  EXPECT_EQ(patched["spec"]["volumes"],
            json::parse(R"([{"name":"lagscale-auth","secret":{"secretName":"token"}}])"));
}

TEST(InjectorTest, ExistingAnnotationsAndVolumesAreKeptAndKeysWithSlashesEscaped) {
  const json pod =
      Pod({{"metadata", {{"annotations", {{"team", "a/b"}, {"lagscale.io/admin-port", "9191"}}}}},
           {"spec", {{"volumes", {{{"name", "models"}, {"emptyDir", json::object()}}}}}}});
  const Injection inj = InjectPod(pod, Template(), SidecarMode::kNative);
  ASSERT_EQ(inj.outcome, InjectOutcome::kInjected) << inj.detail;
  std::vector<std::string> paths;
  for (const auto& op : inj.patch) paths.push_back(op["path"]);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "/metadata/annotations/prometheus.io~1port"),
            paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "/spec/volumes/-"), paths.end());
  const json patched = pod.patch(inj.patch);
  EXPECT_EQ(patched["metadata"]["annotations"]["team"], "a/b");
  EXPECT_EQ(patched["metadata"]["annotations"]["prometheus.io/port"], "9191");
  ASSERT_EQ(patched["spec"]["volumes"].size(), 2u);
  EXPECT_EQ(patched["spec"]["volumes"][0]["name"], "models");
}

// A pod volume named like the sidecar's keeps its name and contents; the sidecar's is added under
// a free name and mounted from there, never the pod's in its place.
TEST(InjectorTest, APodVolumeNamedLikeTheSidecarsIsNotMountedInItsPlace) {
  json tmpl = json::parse(kTemplate);
  tmpl["container"]["volumeMounts"] = {{{"name", "lagscale-auth"}, {"mountPath", "/var/run/auth"}}};
  const json own = {{"name", "lagscale-auth"}, {"secret", {{"secretName", "app-creds"}}}};
  const json taken = {{"name", "lagscale-auth-2"}, {"emptyDir", json::object()}};
  const json pod = Pod({{"spec", {{"volumes", {own, taken}}}}});
  const Injection inj = InjectPod(pod, ParseSidecarTemplate(tmpl.dump()), SidecarMode::kNative);
  ASSERT_EQ(inj.outcome, InjectOutcome::kInjected) << inj.detail;
  const json patched = pod.patch(inj.patch);
  EXPECT_EQ(
      patched["spec"]["volumes"],
      json::array(
          {own, taken, {{"name", "lagscale-auth-3"}, {"secret", {{"secretName", "token"}}}}}));
  EXPECT_EQ(patched["spec"]["initContainers"][0]["volumeMounts"],
            json::parse(R"([{"name":"lagscale-auth-3","mountPath":"/var/run/auth"}])"));

  // The same volume as the sidecar's (a hand-written copy) is shared, not added twice.
  const json same = Pod({{"spec", {{"volumes", {tmpl["volumes"][0]}}}}});
  const json shared =
      same.patch(InjectPod(same, ParseSidecarTemplate(tmpl.dump()), SidecarMode::kNative).patch);
  EXPECT_EQ(shared["spec"]["volumes"], tmpl["volumes"]);
  EXPECT_EQ(shared["spec"]["initContainers"][0]["volumeMounts"][0]["name"], "lagscale-auth");
}

TEST(InjectorTest, APodAlreadyScrapedByAnnotationKeepsItsScrapeTarget) {
  const json pod = Pod(
      {{"metadata",
        {{"annotations", {{"prometheus.io/scrape", "true"}, {"prometheus.io/port", "8002"}}}}}});
  const json patched = pod.patch(InjectPod(pod, Template(), SidecarMode::kNative).patch);
  EXPECT_EQ(patched["metadata"]["annotations"]["prometheus.io/port"], "8002");
}

TEST(InjectorTest, PortAnnotationsOverrideEnvAndContainerPorts) {
  const json pod = Pod({{"metadata",
                         {{"annotations",
                           {{"lagscale.io/http-port", "9100"},
                            {"lagscale.io/grpc-port", "9101"},
                            {"lagscale.io/admin-port", "9190"},
                            {"lagscale.io/upstream-http-port", "8000"},
                            {"lagscale.io/upstream-grpc-port", "8001"},
                            {"lagscale.io/server", "triton"}}}}}});
  const json patched = pod.patch(InjectPod(pod, Template(), SidecarMode::kNative).patch);
  const json& c = patched["spec"]["initContainers"][0];
  EXPECT_EQ(Env(c, "LAGSCALE_LISTEN"), "0.0.0.0:9100");
  EXPECT_EQ(Env(c, "LAGSCALE_UPSTREAM"), "127.0.0.1:8000");
  EXPECT_EQ(Env(c, "LAGSCALE_GRPC_LISTEN"), "0.0.0.0:9101");
  EXPECT_EQ(Env(c, "LAGSCALE_GRPC_UPSTREAM"), "127.0.0.1:8001");
  EXPECT_EQ(Env(c, "LAGSCALE_ADMIN"), "0.0.0.0:9190");
  EXPECT_EQ(Env(c, "LAGSCALE_SERVER_NAME"), "triton");
  EXPECT_EQ(Ports(c),
            json::parse(R"({"lagscale-http":9100,"lagscale-grpc":9101,"lagscale-admin":9190})"));
}

TEST(InjectorTest, GrpcPortZeroRemovesTheGrpcPortAndUpstream) {
  const json pod = Pod({{"metadata", {{"annotations", {{"lagscale.io/grpc-port", "0"}}}}}});
  const json injected = pod.patch(InjectPod(Pod(), Template(), SidecarMode::kNative).patch);
  EXPECT_EQ(Env(injected["spec"]["initContainers"][0], "LAGSCALE_GRPC_ENGINE"), "frames");
  const json patched = pod.patch(InjectPod(pod, Template(), SidecarMode::kNative).patch);
  const json& c = patched["spec"]["initContainers"][0];
  EXPECT_EQ(Env(c, "LAGSCALE_GRPC_LISTEN"), "");
  EXPECT_EQ(Env(c, "LAGSCALE_GRPC_UPSTREAM"), nullptr);
  EXPECT_EQ(Env(c, "LAGSCALE_GRPC_ENGINE"), nullptr);
  EXPECT_EQ(Ports(c), json::parse(R"({"lagscale-http":8000,"lagscale-admin":9090})"));
}

TEST(InjectorTest, ServerNameComesFromTheDeploymentBehindTheReplicaSet) {
  const json pod =
      Pod({{"metadata",
            {{"labels", {{"app", nullptr}, {"pod-template-hash", "7d9c8b5f4"}}},
             {"ownerReferences",
              {{{"kind", "ReplicaSet"}, {"name", "triton-7d9c8b5f4"}, {"controller", true}}}}}}});
  const json patched = pod.patch(InjectPod(pod, Template(), SidecarMode::kNative).patch);
  EXPECT_EQ(Env(patched["spec"]["initContainers"][0], "LAGSCALE_SERVER_NAME"), "triton");
}

TEST(InjectorTest, PodsThatMustNotChangeAreSkippedWithTheirReason) {
  const auto outcome = [](json extra) {
    return InjectPod(Pod(extra), Template(), SidecarMode::kNative).outcome;
  };
  EXPECT_EQ(outcome({{"metadata", {{"labels", {{"lagscale.io/inject", "false"}}}}}}),
            InjectOutcome::kOptedOut);
  EXPECT_EQ(outcome({{"spec", {{"hostNetwork", true}}}}), InjectOutcome::kHostNetwork);
  EXPECT_EQ(outcome({{"spec", {{"initContainers", {{{"name", "lagscale-sidecar"}}}}}}}),
            InjectOutcome::kAlreadyInjected);
  EXPECT_EQ(outcome({{"metadata",
                      {{"labels",
                        {{"app.kubernetes.io/name", "lagscale"},
                         {"app.kubernetes.io/component", "coordinator"}}}}}}),
            InjectOutcome::kOwnPod);
  const json hand_made = Pod();
  json with_sidecar = hand_made;
  with_sidecar["spec"]["containers"].push_back({{"name", "lagscale-sidecar"}});
  EXPECT_EQ(InjectPod(with_sidecar, Template(), SidecarMode::kNative).outcome,
            InjectOutcome::kAlreadyInjected);
  EXPECT_EQ(InjectPod(json::array(), Template(), SidecarMode::kNative).outcome,
            InjectOutcome::kInvalidPod);
}

TEST(InjectorTest, BadAnnotationsAreASkipThatNamesTheAnnotation) {
  const auto detail = [](json annotations) {
    const Injection inj = InjectPod(Pod({{"metadata", {{"annotations", annotations}}}}), Template(),
                                    SidecarMode::kNative);
    EXPECT_EQ(inj.outcome, InjectOutcome::kBadAnnotation);
    EXPECT_TRUE(inj.patch.empty());
    return inj.detail;
  };
  EXPECT_EQ(detail({{"lagscale.io/http-port", "80a"}}),
            "lagscale.io/http-port: invalid value \"80a\" (expected a port number, 1-65535)");
  EXPECT_EQ(
      detail({{"lagscale.io/upstream-grpc-port", "70000"}}),
      "lagscale.io/upstream-grpc-port: invalid value \"70000\" (expected a port number, 1-65535)");
  EXPECT_EQ(detail({{"lagscale.io/admin-port", "8000"}}),
            "lagscale.io/admin-port: port 8000 is used twice by the sidecar");
  EXPECT_EQ(detail({{"lagscale.io/server", "Not A Name"}}),
            "server name \"Not A Name\" (from lagscale.io/server, a label or the owner) is not a "
            "lower-case DNS name");
  // An annotation has no length limit: the answer and the log quote 256 bytes and the size.
  const std::string huge(1 << 20, 'X');
  EXPECT_EQ(detail({{"lagscale.io/server", huge}}),
            "server name \"" + huge.substr(0, 256) +
                "...\" (1048576 bytes) (from lagscale.io/server, a label or the owner) is not a "
                "lower-case DNS name");
  EXPECT_EQ(detail({{"lagscale.io/grpc-port", huge}}),
            "lagscale.io/grpc-port: invalid value \"" + huge.substr(0, 256) +
                "...\" (1048576 bytes) (expected a port number, 0-65535)");
}

TEST(InjectorTest, ASidecarPortTakenByTheModelServerIsASkip) {
  const json pod = Pod(
      {{"spec", {{"containers", {{{"name", "triton"}, {"ports", {{{"containerPort", 8000}}}}}}}}}});
  const Injection inj = InjectPod(pod, Template(), SidecarMode::kNative);
  EXPECT_EQ(inj.outcome, InjectOutcome::kBadAnnotation);
  EXPECT_EQ(inj.detail,
            "lagscale.io/http-port: port 8000 is already a port of container \"triton\"");
}

TEST(InjectorTest, TemplateErrorsSayWhatIsWrong) {
  EXPECT_THROW(ParseSidecarTemplate("not json"), std::runtime_error);
  try {
    ParseSidecarTemplate(R"({"container": {"name": "x", "env": [], "ports": []}})");
    FAIL() << "no ports accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "sidecar template: \"ports\" is missing or has the wrong type");
  }
  try {
    LoadSidecarTemplate("/nonexistent/sidecar.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "--webhook-sidecar-template: cannot read \"/nonexistent/sidecar.json\"");
  }
}

}  // namespace
}  // namespace lagscale::coordinator
