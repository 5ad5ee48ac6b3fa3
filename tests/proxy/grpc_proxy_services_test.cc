// The gRPC passthrough, part 3: streams and unknown methods of other services, an upstream that
// resets a stream, an unreachable upstream, and a listen address that cannot be bound.
#include <grpcpp/generic/generic_stub.h>

#include <thread>

#include "grpc_proxy_fixture.h"
#include "lagscale/v1/lag.grpc.pb.h"

namespace lagscale::proxy {
namespace {

// A bidi stream of another service takes the generic message pump and counts as one call.
class Echo final : public lagscale::v1::LagService::Service {
  grpc::Status Report(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<lagscale::v1::ReportAck, lagscale::v1::PodReport>* stream) override {
    ctx->AddTrailingMetadata("x-reports", "seen");
    lagscale::v1::PodReport report;
    while (stream->Read(&report)) {
      lagscale::v1::ReportAck ack;
      ack.set_sequence(report.sequence());
      stream->Write(ack);
    }
    return grpc::Status::OK;
  }
};

// A gRPC server of another service as the upstream, with the passthrough in front of it.
class GrpcProxyOtherServices : public ::testing::TestWithParam<Engine> {
 protected:
  GrpcProxyOtherServices() : table_(10), ledger_(table_, 1) {}
  ~GrpcProxyOtherServices() override {
    if (upstream_) upstream_->Shutdown(std::chrono::system_clock::now());
  }

  // Serves `service` on a loopback port and starts the passthrough in front of it; returns a
  // channel to the passthrough. The service lives until the server has shut down.
  std::shared_ptr<grpc::Channel> Start(std::unique_ptr<grpc::Service> service) {
    service_ = std::move(service);
    int upstream_port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &upstream_port);
    builder.RegisterService(service_.get());
    upstream_ = builder.BuildAndStart();
    GrpcProxyOptions options;
    options.listen = "127.0.0.1:0";
    options.upstream = "127.0.0.1:" + std::to_string(upstream_port);
    options.engine = GetParam();
    proxy_ = std::make_unique<GrpcProxy>(options, ledger_, 0, 1);
    proxy_->Start();
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy_->port()),
                               grpc::InsecureChannelCredentials());
  }

  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  std::unique_ptr<grpc::Service> service_;  // outlives upstream_, which dispatches to it
  std::unique_ptr<grpc::Server> upstream_;
  std::unique_ptr<GrpcProxy> proxy_;
};

TEST_P(GrpcProxyOtherServices, StreamsAndUnknownMethodsOfAnyServicePassThrough) {
  auto channel = Start(std::make_unique<Echo>());

  auto stub = lagscale::v1::LagService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Report(&ctx);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    lagscale::v1::PodReport report;
    report.set_sequence(seq);
    ASSERT_TRUE(stream->Write(report));
    lagscale::v1::ReportAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.sequence(), seq);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ctx.GetServerTrailingMetadata().find("x-reports")->second, "seen");

  grpc::GenericStub generic(channel);
  grpc::ClientContext unknown_ctx;
  grpc::ByteBuffer request(nullptr, 0), response;
  std::atomic<bool> done{false};
  grpc::Status unknown_status;
  generic.UnaryCall(&unknown_ctx, "/other.Service/Method", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      unknown_status = s;
                      done = true;
                    });
  ASSERT_TRUE(Eventually([&] { return done.load(); }));
  EXPECT_EQ(unknown_status.error_code(), grpc::StatusCode::UNIMPLEMENTED);

  ASSERT_TRUE(Eventually([&] { return proxy_->active_calls() == 0; }));
  auto s = ledger_.Snapshot().unattributed;
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.outcome(Outcome::kSuccess), 1u);
  EXPECT_EQ(s.outcome(Outcome::kServerError), 1u);
  EXPECT_EQ(s.inflight(), 0);
}

// An upstream that resets the stream (RST_STREAM, no status) after the first message.
class Resetter final : public lagscale::v1::LagService::Service {
  grpc::Status Report(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<lagscale::v1::ReportAck, lagscale::v1::PodReport>* stream) override {
    lagscale::v1::PodReport report;
    stream->Read(&report);
    ctx->TryCancel();
    return grpc::Status::CANCELLED;
  }
};

TEST_P(GrpcProxyOtherServices, AnUpstreamResetReachesTheClientAndIsAServerError) {
  auto stub = lagscale::v1::LagService::NewStub(Start(std::make_unique<Resetter>()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = stub->Report(&ctx);
  stream->Write(lagscale::v1::PodReport());
  lagscale::v1::ReportAck ack;
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return proxy_->active_calls() == 0; }));
  const auto s = ledger_.Snapshot().unattributed;
  EXPECT_EQ(s.arrivals, 1u);
  EXPECT_EQ(s.outcome(Outcome::kServerError), 1u);
  EXPECT_EQ(s.inflight(), 0);
}

class GrpcProxyUpstreamDown : public ::testing::TestWithParam<Engine> {};

TEST_P(GrpcProxyUpstreamDown, UnreachableUpstreamIsUnavailableAndUpstreamError) {
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  const testing::RefusingPort dead;
  GrpcProxyOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream = dead.address();
  options.engine = GetParam();
  metrics::ServerCounters counters(1);
  GrpcProxy proxy(options, ledger, 0, 1, &counters);
  proxy.Start();
  EXPECT_EQ(proxy.address(), "127.0.0.1:" + std::to_string(proxy.port()));
  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(proxy.port()), grpc::InsecureChannelCredentials()));
  inference::ModelInferRequest req;
  req.set_model_name("iris");
  inference::ModelInferResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  EXPECT_EQ(stub->ModelInfer(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(Eventually([&] { return proxy.active_calls() == 0; }));
  auto snap = ledger.Snapshot();
  ASSERT_EQ(snap.models.size(), 1u);
  EXPECT_EQ(snap.models[0].second.arrivals, 1u);
  EXPECT_EQ(snap.models[0].second.outcome(Outcome::kUpstreamError), 1u);
  EXPECT_EQ(snap.models[0].second.inflight(), 0);
  EXPECT_EQ(counters.Sum().upstream_connect_failures, 1u);

  // The streaming path reports the same: each message sent ends as upstream_error.
  grpc::ClientContext stream_ctx;
  auto stream = stub->ModelStreamInfer(&stream_ctx);
  req.set_model_name("bert");
  stream->Write(req);
  stream->WritesDone();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(Eventually([&] { return proxy.active_calls() == 0; }));
  snap = ledger.Snapshot();
  ASSERT_EQ(snap.models.size(), 2u);
  EXPECT_EQ(snap.models[1].first, "bert");
  EXPECT_EQ(snap.models[1].second.arrivals, 1u);
  EXPECT_EQ(snap.models[1].second.outcome(Outcome::kUpstreamError), 1u);
  EXPECT_EQ(snap.models[1].second.inflight(), 0);
}

class GrpcProxyStart : public ::testing::TestWithParam<Engine> {};

TEST_P(GrpcProxyStart, ListenFailureThrowsNamingTheAddress) {
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  GrpcProxyOptions options;
  options.listen = "256.1.1.1:1";
  options.engine = GetParam();
  GrpcProxy proxy(options, ledger, 0, 1);
  try {
    proxy.Start();
    FAIL() << "Start() should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("256.1.1.1:1"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyOtherServices,
                         ::testing::Values(Engine::kCalls, Engine::kFrames), EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyUpstreamDown,
                         ::testing::Values(Engine::kCalls, Engine::kFrames), EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyStart,
                         ::testing::Values(Engine::kCalls, Engine::kFrames), EngineName);

}  // namespace
}  // namespace lagscale::proxy
