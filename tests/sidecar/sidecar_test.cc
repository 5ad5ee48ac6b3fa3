// The Sidecar's drain order, in process: what a client, a load balancer probing /readyz and the
// coordinator see from the moment Drain() starts until it returns.
#include "sidecar/sidecar.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "inference/grpc_service.grpc.pb.h"
#include "support/fake_coordinator.h"
#include "support/fake_upstream.h"
#include "support/grpc_upstream.h"
#include "support/process.h"
#include "support/raw_socket.h"

namespace lagscale::sidecar {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeConn;
using testing::FakeCoordinator;
using testing::FakeUpstream;
using testing::HttpGet;
using testing::RawClient;

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

// An HTTP upstream that holds every request until the test releases them, then answers 200.
struct HeldUpstream {
  std::atomic<bool> released{false};
  FakeUpstream server{[this](FakeConn& c) {
    if (c.ReadHead().empty()) return;  // a /readyz probe connects and leaves
    Eventually([&] { return released.load(); }, 20s);
    c.Send(testing::OkResponse("finished"));
  }};
  uint16_t port() const { return static_cast<uint16_t>(std::stoi(server.address().substr(10))); }
};

SidecarConfig LoopbackConfig(uint16_t upstream_port) {
  SidecarConfig c;
  c.proxy.listen_host = "127.0.0.1";
  c.proxy.listen_port = 0;
  c.proxy.upstream_host = "127.0.0.1";
  c.proxy.upstream_port = upstream_port;
  c.proxy.threads = 1;
  c.admin = {"127.0.0.1", 0};
  c.grpc_listen = "";
  c.drain_timeout = 20s;
  return c;
}

// Runs Drain() on a thread of its own, so the test can watch the drain from outside.
class BackgroundDrain {
 public:
  explicit BackgroundDrain(Sidecar& sidecar)
      : thread_([this, &sidecar] {
          sidecar.Drain();
          done_ = true;
        }) {}
  ~BackgroundDrain() { thread_.join(); }
  bool done() const { return done_.load(); }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int64_t Inflight(Sidecar& sidecar, const std::string& model) {
  for (const auto& [name, stats] : sidecar.ledger().Snapshot().models) {
    if (name == model) return stats.inflight();
  }
  return 0;
}

uint64_t Outcomes(Sidecar& sidecar, const std::string& model, metrics::Outcome outcome) {
  for (const auto& [name, stats] : sidecar.ledger().Snapshot().models) {
    if (name == model) return stats.outcome(outcome);
  }
  return 0;
}

std::string Local(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

TEST(SidecarDrain, ReadinessTurnsFirstThenInFlightRequestsFinishBeforeDrainReturns) {
  HeldUpstream upstream;
  Sidecar sidecar(LoopbackConfig(upstream.port()));
  sidecar.Start();
  const std::string http = Local(sidecar.http_port()), admin = Local(sidecar.admin_port());
  ASSERT_EQ(HttpGet(admin, "/readyz").status, 200);
  RawClient busy(http);
  busy.Send(Get("/v2/models/drain/infer"));
  ASSERT_TRUE(Eventually([&] { return Inflight(sidecar, "drain") == 1; }));
  RawClient idle(http);

  BackgroundDrain drain(sidecar);
  EXPECT_TRUE(Eventually([&] { return HttpGet(admin, "/readyz").status == 503; }));
  EXPECT_TRUE(idle.socket().WaitClosed());  // idle keep-alive connections close at once
  RawClient late(http);                     // and nobody new gets in
  EXPECT_FALSE(late.Send(Get("/v2/models/late/infer")) && late.Read(false, 2s).status != 0);
  EXPECT_FALSE(drain.done()) << "the drain must wait for the request in flight";
  EXPECT_EQ(Inflight(sidecar, "drain"), 1);

  upstream.released = true;
  const auto r = busy.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "finished");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(Eventually([&] { return drain.done(); }));
  EXPECT_EQ(Inflight(sidecar, "drain"), 0);
  EXPECT_EQ(Outcomes(sidecar, "drain", metrics::Outcome::kSuccess), 1u);
  EXPECT_EQ(Outcomes(sidecar, "late", metrics::Outcome::kSuccess), 0u);
}

TEST(SidecarDrain, TimeoutCutsStragglersAndEndsThemAsClientAbort) {
  HeldUpstream upstream;
  SidecarConfig config = LoopbackConfig(upstream.port());
  config.drain_timeout = 200ms;
  Sidecar sidecar(config);
  sidecar.Start();
  RawClient busy(Local(sidecar.http_port()));
  busy.Send(Get("/v2/models/stuck/infer"));
  ASSERT_TRUE(Eventually([&] { return Inflight(sidecar, "stuck") == 1; }));

  const auto started = std::chrono::steady_clock::now();
  sidecar.Drain();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(busy.socket().WaitClosed());
  EXPECT_EQ(Inflight(sidecar, "stuck"), 0);
  EXPECT_EQ(Outcomes(sidecar, "stuck", metrics::Outcome::kClientAbort), 1u);
  upstream.released = true;
}

// Once per --grpc-engine.
class SidecarGrpcDrain : public ::testing::TestWithParam<std::string> {};

TEST_P(SidecarGrpcDrain, GrpcCallInProgressFinishesWhileNewCallsAreRefused) {
  HeldUpstream http_upstream;
  testing::GrpcUpstream grpc_upstream;
  SidecarConfig config = LoopbackConfig(http_upstream.port());
  config.grpc_listen = "127.0.0.1:0";
  config.grpc_upstream = grpc_upstream.address();
  config.grpc_engine = GetParam();
  Sidecar sidecar(config);
  sidecar.Start();
  ASSERT_TRUE(sidecar.grpc_address().has_value());
  EXPECT_NE(sidecar.ReadyLine().find(" grpc=" + *sidecar.grpc_address()), std::string::npos);
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(*sidecar.grpc_address(), grpc::InsecureChannelCredentials()));

  // A stream the upstream holds until released: in flight for as long as the test wants.
  grpc::ClientContext held;
  held.set_deadline(std::chrono::system_clock::now() + 20s);
  auto stream = stub->ModelStreamInfer(&held);
  inference::ModelInferRequest request;
  request.set_model_name("streamed");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(Eventually([&] { return grpc_upstream.received() == 1; }));

  BackgroundDrain drain(sidecar);
  auto new_call_refused = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    inference::ModelInferRequest req;
    req.set_model_name("late");
    inference::ModelInferResponse resp;
    return !stub->ModelInfer(&ctx, req, &resp).ok();
  };
  EXPECT_TRUE(Eventually(new_call_refused));
  EXPECT_FALSE(drain.done()) << "the drain must wait for the call in flight";

  grpc_upstream.Release(1);
  inference::ModelStreamInferResponse response;
  EXPECT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.infer_response().model_name(), "streamed");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(Eventually([&] { return drain.done(); }));
  EXPECT_EQ(Inflight(sidecar, "streamed"), 0);
  EXPECT_EQ(Outcomes(sidecar, "streamed", metrics::Outcome::kSuccess), 1u);
}

INSTANTIATE_TEST_SUITE_P(Engines, SidecarGrpcDrain, ::testing::Values("calls", "frames"),
                         [](const auto& info) { return info.param; });

TEST(SidecarDrain, ReportsContinueThroughTheDrainAndStopWhenItEnds) {
  HeldUpstream upstream;
  FakeCoordinator coordinator;
  SidecarConfig config = LoopbackConfig(upstream.port());
  config.coordinator = coordinator.address();
  config.report_interval = 50ms;
  Sidecar sidecar(config);
  sidecar.Start();
  RawClient busy(Local(sidecar.http_port()));
  busy.Send(Get("/v2/models/drain/infer"));
  ASSERT_TRUE(Eventually([&] { return Inflight(sidecar, "drain") == 1; }));

  BackgroundDrain drain(sidecar);
  ASSERT_TRUE(
      Eventually([&] { return HttpGet(Local(sidecar.admin_port()), "/readyz").status == 503; }));
  const auto draining = std::chrono::steady_clock::now();
  EXPECT_TRUE(coordinator.WaitFor([&](const FakeCoordinator::Log& log) {
    return log.ReportsSince(draining) >= 2;
  })) << "the coordinator must keep hearing from a draining sidecar";
  upstream.released = true;
  EXPECT_EQ(busy.Read().status, 200);
  ASSERT_TRUE(Eventually([&] { return drain.done(); }));
  const auto drained = std::chrono::steady_clock::now();
  // Four report intervals: none may come.
  EXPECT_FALSE(coordinator.WaitFor(
      [&](const FakeCoordinator::Log& log) { return log.ReportsSince(drained) > 0; }, 200ms));
  EXPECT_EQ(coordinator.ReportsSince(drained), 0);
}

}  // namespace
}  // namespace lagscale::sidecar
