// A call the upstream refused without processing it (a GOAWAY whose last stream id is below the
// call's stream, as a server shutting down or ending a connection at its age limit sends) is sent
// again on a new connection, so the client sees its answer, and the ledger one arrival and one
// success. The frames engine only: the calls engine runs its upstream channel without gRPC's
// retries (they buffer every message) and answers such a call UNAVAILABLE (upstream_error).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "inference/grpc_service.grpc.pb.h"
#include "lagscale/proxy/grpc_proxy.h"
#include "support/grpc_upstream.h"
#include "support/h2_refusing_upstream.h"

namespace lagscale::proxy {
namespace {

using namespace std::chrono_literals;
using Engine = GrpcProxyOptions::Engine;

std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kCalls ? "Calls" : "Frames";
}

class GrpcProxyRefusedTest : public ::testing::TestWithParam<Engine> {
 protected:
  GrpcProxyRefusedTest() : table_(10), ledger_(table_, 1) {}

  void Start(int refusals) {
    refusing_ = std::make_unique<testing::H2RefusingUpstream>(upstream_.port(), refusals);
    GrpcProxyOptions options;
    options.listen = "127.0.0.1:0";
    options.upstream = refusing_->address();
    options.engine = GetParam();
    proxy_ = std::make_unique<GrpcProxy>(options, ledger_, 0, 1);
    proxy_->Start();
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(proxy_->port()), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Infer(inference::ModelInferResponse& resp, size_t payload = 3000) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    inference::ModelInferRequest req;
    req.set_model_name("iris");
    req.set_id("once");
    req.add_raw_input_contents(std::string(payload, 'x'));
    return stub_->ModelInfer(&ctx, req, &resp);
  }

  metrics::ModelStats Iris() {
    for (const auto& [name, stats] : ledger_.Snapshot().models) {
      if (name == "iris") return stats;
    }
    return {};
  }

  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  testing::GrpcUpstream upstream_;
  std::unique_ptr<testing::H2RefusingUpstream> refusing_;
  std::unique_ptr<GrpcProxy> proxy_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_P(GrpcProxyRefusedTest, ARefusedCallIsSentAgainOnANewConnectionAndCountedOnce) {
  Start(/*refusals=*/1);
  inference::ModelInferResponse resp;
  const grpc::Status status = Infer(resp);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(resp.id(), "once");
  EXPECT_EQ(refusing_->refused(), 1);
  EXPECT_EQ(upstream_.received(), 1);  // the refused attempt never reached the server
  proxy_.reset();                      // every call has ended in the ledger
  const metrics::ModelStats s = Iris();
  EXPECT_EQ(s.arrivals, 1u);
  EXPECT_EQ(s.outcome(metrics::Outcome::kSuccess), 1u);
  EXPECT_EQ(s.inflight(), 0);
}

// One retry: a call refused again fails as the proxy's own UNAVAILABLE, as does one whose request
// was too large to keep for a retry; neither reached the server.
TEST_P(GrpcProxyRefusedTest, ACallRefusedTwiceOrTooLargeToKeepIsUnavailable) {
  Start(/*refusals=*/3);
  inference::ModelInferResponse resp;
  EXPECT_EQ(Infer(resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(refusing_->refused(), 2);
  EXPECT_EQ(Infer(resp, /*payload=*/200 * 1024).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(refusing_->refused(), 3);
  EXPECT_EQ(upstream_.received(), 0);
  proxy_.reset();
  const metrics::ModelStats s = Iris();
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.outcome(metrics::Outcome::kUpstreamError), 2u);
  EXPECT_EQ(s.inflight(), 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyRefusedTest, ::testing::Values(Engine::kFrames),
                         EngineName);

}  // namespace
}  // namespace lagscale::proxy
