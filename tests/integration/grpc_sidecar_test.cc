// The real lagscale-sidecar with its gRPC passthrough and report stream: gRPC clients in front,
// an in-test V2 gRPC server behind, an in-test coordinator receiving the reports. Asserts what a
// user sees: the calls' results, /stats, and the reports.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "support/fake_coordinator.h"
#include "support/grpc_upstream.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

// The arrivals of `model` in the last report that names it; -1 if none does.
int64_t ReportedArrivals(const FakeCoordinator::Log& log, const std::string& model) {
  for (auto it = log.received.rbegin(); it != log.received.rend(); ++it) {
    for (const auto& m : it->report.models()) {
      if (m.model() == model) return static_cast<int64_t>(m.arrivals());
    }
  }
  return -1;
}

// Waits until the last report that names `model` says it has had `arrivals` arrivals.
bool WaitForReportedArrivals(FakeCoordinator& c, const std::string& model, int64_t arrivals) {
  return c.WaitFor(
      [&](const FakeCoordinator::Log& log) { return ReportedArrivals(log, model) == arrivals; });
}

// Each test runs once per --grpc-engine.
class GrpcSidecarTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GrpcSidecarTest, CallsPassThroughStatsAreExactAndReportsSurviveACoordinatorRestart) {
  GrpcUpstream upstream;
  FakeCoordinator coordinator;
  auto sidecar = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-sidecar",
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--upstream",
                                      "127.0.0.1:9",
                                      "--admin",
                                      "127.0.0.1:0",
                                      "--threads",
                                      "1",
                                      "--grpc-listen",
                                      "127.0.0.1:0",
                                      "--grpc-upstream",
                                      upstream.address(),
                                      "--coordinator",
                                      coordinator.address(),
                                      "--report-interval",
                                      "100ms",
                                      "--server-name",
                                      "mlserver",
                                      "--pod-name",
                                      "mlserver-0",
                                      "--grpc-engine",
                                      GetParam()});
  ASSERT_TRUE(sidecar);
  auto line = sidecar->WaitForLine("lagscale-sidecar ready");
  if (!line) GTEST_SKIP() << "this lagscale-sidecar does not serve yet: " << sidecar->stderr_text();
  auto addresses = ParseReadyLine(*line);
  if (!addresses.count("grpc")) GTEST_SKIP() << "this lagscale-sidecar does not wire gRPC yet";

  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(addresses["grpc"], grpc::InsecureChannelCredentials()));
  auto infer = [&](const std::string& model, std::map<std::string, std::string> md,
                   std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    grpc::ClientContext ctx;
    for (const auto& [k, v] : md) ctx.AddMetadata(k, v);
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    inference::ModelInferRequest req;
    req.set_model_name(model);
    inference::ModelInferResponse resp;
    return stub->ModelInfer(&ctx, req, &resp).error_code();
  };
  EXPECT_EQ(infer("iris", {}), grpc::StatusCode::OK);
  EXPECT_EQ(infer("iris", {{"x-status", "3"}}), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(infer("iris", {{"x-delay-ms", "5000"}}, std::chrono::milliseconds(200)),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  {
    grpc::ClientContext ctx;
    auto stream = stub->ModelStreamInfer(&ctx);
    inference::ModelInferRequest req;
    req.set_model_name("bert");
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(req));
    upstream.Release(3);
    inference::ModelStreamInferResponse resp;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Read(&resp));
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }

  nlohmann::json stats;
  ASSERT_TRUE(Eventually([&] {
    auto r = HttpGet(addresses["admin"], "/stats");
    if (r.status != 200) return false;
    stats = nlohmann::json::parse(r.body);
    return stats["models"].contains("iris") && stats["models"]["iris"]["inflight"] == 0 &&
           stats["models"].contains("bert") && stats["models"]["bert"]["completions"] == 3;
  })) << stats.dump();
  const auto& iris = stats["models"]["iris"];
  EXPECT_EQ(iris["arrivals"], 3);
  EXPECT_EQ(iris["outcomes"]["success"], 1);
  EXPECT_EQ(iris["outcomes"]["client_error"], 1);
  EXPECT_EQ(iris["outcomes"]["timeout"], 1);
  EXPECT_EQ(stats["models"]["bert"]["outcomes"]["success"], 3);

  ASSERT_TRUE(WaitForReportedArrivals(coordinator, "iris", 3));
  coordinator.Stop();  // the coordinator goes away; the pod serves on
  EXPECT_EQ(infer("iris", {}), grpc::StatusCode::OK);
  coordinator.Restart();
  EXPECT_EQ(infer("iris", {}), grpc::StatusCode::OK);
  EXPECT_TRUE(WaitForReportedArrivals(coordinator, "iris", 5))
      << "the report stream did not come back with the cumulative counters";
}

TEST_P(GrpcSidecarTest, SecondSidecarOnTheSameGrpcPortStopsWithAMessageNamingIt) {
  GrpcUpstream upstream;
  std::map<std::string, std::string> first;
  auto a = StartReady(
      "lagscale-sidecar",
      {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--admin", "127.0.0.1:0",
       "--threads", "1", "--grpc-listen", "127.0.0.1:0", "--grpc-upstream", upstream.address(),
       "--grpc-engine", GetParam()},
      first);
  ASSERT_TRUE(a);
  ASSERT_EQ(first["grpc"].rfind("127.0.0.1:", 0), 0u) << first["grpc"];
  // gRPC would share the port through SO_REUSEPORT; the second sidecar must refuse instead.
  auto b = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-sidecar", "--listen",
                                "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--admin",
                                "127.0.0.1:0", "--threads", "1", "--grpc-listen", first["grpc"],
                                "--grpc-upstream", upstream.address(), "--grpc-engine",
                                GetParam()});
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->WaitForLine("lagscale-sidecar ready", std::chrono::seconds(10)));
  const std::optional<int> code = b->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  const std::string said = b->stderr_text();
  EXPECT_NE(said.find("--grpc-listen " + first["grpc"]), std::string::npos) << said;
  EXPECT_NE(said.find("in use"), std::string::npos) << said;
  // The address in the first sidecar's ready line is the one that serves.
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(first["grpc"], grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  inference::ModelInferRequest req;
  req.set_model_name("iris");
  inference::ModelInferResponse resp;
  EXPECT_TRUE(stub->ModelInfer(&ctx, req, &resp).ok());
}

TEST_P(GrpcSidecarTest, ThreadsAreNamedForWhatTheyDo) {
  GrpcUpstream upstream;
  FakeCoordinator coordinator;
  std::map<std::string, std::string> addresses;
  auto sidecar = StartReady(
      "lagscale-sidecar",
      {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--admin", "127.0.0.1:0",
       "--threads", "2", "--grpc-listen", "127.0.0.1:0", "--grpc-upstream", upstream.address(),
       "--grpc-engine", GetParam(), "--coordinator", coordinator.address()},
      addresses);
  ASSERT_TRUE(sidecar);
  const std::string grpc = GetParam() == "frames" ? "grpc-io-0" : "grpc-cq-0";
  const std::set<std::string> expected = {"http-io-0", "http-io-1", "admin", "report", grpc};
  std::set<std::string> seen;
  EXPECT_TRUE(Eventually([&] {
    seen = ThreadNames(sidecar->pid());
    return std::includes(seen.begin(), seen.end(), expected.begin(), expected.end());
  })) << ::testing::PrintToString(seen);
}

INSTANTIATE_TEST_SUITE_P(Engines, GrpcSidecarTest, ::testing::Values("calls", "frames"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace lagscale::testing
