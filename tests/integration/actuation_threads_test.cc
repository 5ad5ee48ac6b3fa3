// The real lagscale-coordinator with the kubernetes actuator against the emulated API server,
// where one model's Deployment answers its scale writes only after 3 s (a slow API server, or an
// admission webhook taking its time on that object). iris starts below minReplicas, so it is
// scaled up at once; while that write is in flight, a reloaded configuration raises rose's
// minReplicas. With the default actuation threads rose's write lands at once, before iris's; with
// --actuation-threads 1 it waits until iris's has landed.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include "support/k8s_emulator.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

using namespace std::chrono_literals;

// rose's minReplicas is `rose_min`.
std::string Config(int rose_min) {
  return R"(decisionInterval: 100ms
defaults:
  minReplicas: 1
  maxReplicas: 5
models:
- name: iris
  target: {apiVersion: apps/v1, kind: Deployment, name: iris, namespace: default}
- name: rose
  minReplicas: )" +
         std::to_string(rose_min) + R"(
  target: {apiVersion: apps/v1, kind: Deployment, name: rose, namespace: default}
)";
}
const std::string kIris = "/apis/apps/v1/namespaces/default/deployments/iris/scale";
const std::string kRose = "/apis/apps/v1/namespaces/default/deployments/rose/scale";

class ActuationThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_.SetHandler(objects_.Handler());
    objects_.SetReplicas(kIris, 0);
    objects_.SetReplicas(kRose, 1);
    objects_.DelayScaleWrites(3000ms, kIris);
    std::ofstream(pki_.Path("config.yaml")) << Config(1);
  }

  // Starts the coordinator with `extra` flags; once iris's write is in flight, raises rose's
  // minReplicas to 2 (SIGHUP) and waits until both writes landed.
  std::pair<KubeObjects::Write, KubeObjects::Write> WritesOfBoth(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--config",      pki_.Path("config.yaml"),
                                     "--grpc-listen", "127.0.0.1:0",
                                     "--http-listen", "127.0.0.1:0",
                                     "--actuator",    "kubernetes",
                                     "--kubeconfig",  pki_.Kubeconfig(api_.url(), "coordinator")};
    args.insert(args.end(), extra.begin(), extra.end());
    std::map<std::string, std::string> ready;
    coordinator_ = StartReady("lagscale-coordinator", args, ready);
    if (!coordinator_) {
      ADD_FAILURE() << "the coordinator did not start";
      return {};
    }
    EXPECT_TRUE(Eventually([&] {
      for (const auto& r : api_.Requests()) {
        if (r.method == "PATCH" && r.target == kIris) return true;
      }
      return false;
    }));
    std::ofstream(pki_.Path("config.yaml")) << Config(2);
    coordinator_->Signal(SIGHUP);
    KubeObjects::Write iris, rose;
    EXPECT_TRUE(Eventually(
        [&] {
          for (const auto& w : objects_.ScaleWrites()) {
            if (w.status == 200) (w.path == kIris ? iris : rose) = w;
          }
          return iris.replicas == 1 && rose.replicas == 2;
        },
        30s))
        << coordinator_->stderr_text();
    return {iris, rose};
  }

  TestPki pki_;
  KubeEmulator api_{pki_};
  KubeObjects objects_;
  std::unique_ptr<ChildProcess> coordinator_;
};

TEST_F(ActuationThreadsTest, ASlowTargetDoesNotHoldUpTheWriteOfAnother) {
  const auto [iris, rose] = WritesOfBoth({});
  EXPECT_GT(rose.at, iris.at);
  EXPECT_LT(rose.done, iris.done) << "rose waited for iris's slow write";
}

TEST_F(ActuationThreadsTest, OneActuationThreadWritesOneTargetAfterTheOther) {
  const auto [iris, rose] = WritesOfBoth({"--actuation-threads", "1"});
  EXPECT_GE(rose.at, iris.done);
}

TEST(ActuationThreadsFlagTest, ACountOutsideOneToSixtyFourStopsStartUpNamingTheFlag) {
  for (const std::string value : {"0", "65", "many"}) {
    auto c = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator",
                                  "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                  "--actuation-threads", value});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->Wait(), 2) << value << "\n" << c->stderr_text();
    EXPECT_NE(c->stderr_text().find("--actuation-threads"), std::string::npos) << c->stderr_text();
  }
}

}  // namespace
}  // namespace lagscale::testing
