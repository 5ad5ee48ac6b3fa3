// The gRPC passthrough, part 1: which model a call is counted for, and how each ending (success,
// error status, cancellation either way, deadline) becomes an outcome. The fixture is in
// grpc_proxy_fixture.h; transport behaviour in grpc_proxy_transport_test.cc, other services and
// start-up in grpc_proxy_services_test.cc.
#include <grpcpp/generic/generic_stub.h>

#include <thread>

#include "grpc_proxy_fixture.h"

namespace lagscale::proxy {
namespace {

TEST_P(GrpcProxyTest, UnaryModelInferIsOneArrivalAndOneSuccessForTheModelInItsFirstField) {
  grpc::ClientContext ctx;
  inference::ModelInferResponse resp;
  ASSERT_TRUE(Infer("iris", ctx, &resp).ok());
  EXPECT_EQ(resp.model_name(), "iris");
  EXPECT_EQ(resp.id(), "req-1");
  ExpectOnly(Settled("iris"), 1, Outcome::kSuccess);
  EXPECT_EQ(Stats("").arrivals, 0u);
}

TEST_P(GrpcProxyTest, CompressedRequestsAreAttributedToTheModelInside) {
  grpc::ClientContext ctx;
  ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  inference::ModelInferResponse resp;
  ASSERT_TRUE(Infer("iris", ctx, &resp).ok());
  EXPECT_EQ(resp.model_name(), "iris");
  ExpectOnly(Settled("iris"), 1, Outcome::kSuccess);
  EXPECT_EQ(Stats("").arrivals, 0u);
}

TEST_P(GrpcProxyTest, ModelHeaderTakesPrecedenceOverTheMessage) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("seldon-model", "from-header");
  ASSERT_TRUE(Infer("from-body", ctx).ok());
  ExpectOnly(Settled("from-header"), 1, Outcome::kSuccess);
  EXPECT_EQ(Stats("from-body").arrivals, 0u);
}

TEST_P(GrpcProxyTest, FirstConfiguredModelHeaderPresentWins) {
  proxy_.reset();
  StartProxy(upstream_.address(), {"seldon-model", "X-Gateway-Model-Name"});
  grpc::ClientContext gateway_only;
  gateway_only.AddMetadata("x-gateway-model-name", "gateway");
  ASSERT_TRUE(Infer("from-body", gateway_only).ok());
  grpc::ClientContext both;
  both.AddMetadata("x-gateway-model-name", "gateway");
  both.AddMetadata("seldon-model", "seldon");
  ASSERT_TRUE(Infer("from-body", both).ok());
  ExpectOnly(Settled("gateway"), 1, Outcome::kSuccess);
  ExpectOnly(Settled("seldon"), 1, Outcome::kSuccess);
  EXPECT_EQ(Stats("from-body").arrivals, 0u);
}

TEST_P(GrpcProxyTest, ModelReadyIsAttributedAndOtherMethodsAreUnattributed) {
  inference::ModelReadyRequest ready;
  ready.set_name("mnist");
  inference::ModelReadyResponse ready_resp;
  grpc::ClientContext c1;
  ASSERT_TRUE(stub_->ModelReady(&c1, ready, &ready_resp).ok());
  EXPECT_TRUE(ready_resp.ready());
  grpc::ClientContext c2;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(&c2, inference::ServerLiveRequest(), &live).ok());
  EXPECT_TRUE(live.live());
  ExpectOnly(Settled("mnist"), 1, Outcome::kSuccess);
  ExpectOnly(Stats(""), 1, Outcome::kSuccess);
  // ModelMetadata names its model in field 1 too (this upstream does not implement it).
  inference::ModelMetadataRequest metadata;
  metadata.set_name("resnet");
  inference::ModelMetadataResponse metadata_resp;
  grpc::ClientContext c3;
  EXPECT_EQ(stub_->ModelMetadata(&c3, metadata, &metadata_resp).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  ExpectOnly(Settled("resnet"), 1, Outcome::kServerError);
}

TEST_P(GrpcProxyTest, InvalidModelNameCountsAsUnattributed) {
  grpc::ClientContext ctx;
  ASSERT_TRUE(Infer("../etc/passwd", ctx).ok());
  ExpectOnly(Settled(""), 1, Outcome::kSuccess);
  EXPECT_TRUE(ledger_.Snapshot().models.empty());
}

TEST_P(GrpcProxyTest, MetadataTrailersAndErrorStatusPassThrough) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-echo", "hello");
  ctx.AddMetadata("x-status", std::to_string(grpc::StatusCode::INVALID_ARGUMENT));
  grpc::Status status = Infer("iris", ctx);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "status from upstream");
  EXPECT_EQ(status.error_details(), "details:3");  // grpc-status-details-bin
  auto initial = ctx.GetServerInitialMetadata().find("x-initial");
  ASSERT_NE(initial, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(initial->second, "hello");
  auto trailer = ctx.GetServerTrailingMetadata().find("x-trailer");
  ASSERT_NE(trailer, ctx.GetServerTrailingMetadata().end());
  EXPECT_EQ(trailer->second, "hello");
  ExpectOnly(Settled("iris"), 1, Outcome::kClientError);
}

TEST_P(GrpcProxyTest, ServerSideCodesAreServerErrors) {
  for (auto code : {grpc::StatusCode::INTERNAL, grpc::StatusCode::UNAVAILABLE,
                    grpc::StatusCode::UNIMPLEMENTED}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-status", std::to_string(code));
    EXPECT_EQ(Infer("iris", ctx).error_code(), code);
  }
  // UNAVAILABLE sent by the inference server is its error, not an unreachable upstream.
  ExpectOnly(Settled("iris"), 3, Outcome::kServerError);
}

TEST_P(GrpcProxyTest, StreamCountsEachMessageAndShowsLagMidStream) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-echo", "s");
  auto stream = stub_->ModelStreamInfer(&ctx);
  for (const char* id : {"a", "b", "error"}) {
    inference::ModelInferRequest req;
    req.set_model_name("bert");
    req.set_id(id);
    ASSERT_TRUE(stream->Write(req));
  }
  // Nothing answered yet: the three requests are the model's lag.
  ASSERT_TRUE(Eventually([&] { return Stats("bert").arrivals == 3; }));
  EXPECT_EQ(Stats("bert").inflight(), 3);
  upstream_.Release(1);
  inference::ModelStreamInferResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.infer_response().id(), "a");
  EXPECT_TRUE(Eventually([&] { return Stats("bert").inflight() == 2; }));
  upstream_.Release(2);
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.error_message(), "bad tensor");
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ctx.GetServerTrailingMetadata().find("x-trailer")->second, "s");
  auto s = Settled("bert");
  EXPECT_EQ(s.arrivals, 3u);
  EXPECT_EQ(s.outcome(Outcome::kSuccess), 2u);
  EXPECT_EQ(s.outcome(Outcome::kServerError), 1u);
  EXPECT_EQ(s.inflight(), 0);
}

TEST_P(GrpcProxyTest, StreamMessagesLeftUnansweredEndWithTheClientsCancel) {
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  inference::ModelInferRequest req;
  req.set_model_name("bert");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(Eventually([&] { return upstream_.received() == 1 && Stats("bert").arrivals == 2; }));
  ctx.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectOnly(Settled("bert"), 2, Outcome::kClientAbort);
  EXPECT_TRUE(Eventually([&] { return upstream_.cancelled() == 1; }));
}

TEST_P(GrpcProxyTest, ClientCancellationReachesTheUpstreamAndCountsAsClientAbort) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-delay-ms", "20000");
  std::thread canceller([&] {
    Eventually([&] { return upstream_.received() == 1; });
    ctx.TryCancel();
  });
  EXPECT_EQ(Infer("iris", ctx).error_code(), grpc::StatusCode::CANCELLED);
  canceller.join();
  EXPECT_TRUE(Eventually([&] { return upstream_.cancelled() == 1; }));
  ExpectOnly(Settled("iris"), 1, Outcome::kClientAbort);
}

TEST_P(GrpcProxyTest, DeadlineIsPropagatedAndCountsAsTimeout) {
  grpc::ClientContext ctx;
  // Long enough for the call to reach the upstream first under TSan, where a fresh channel and
  // the proxy's upstream connection took more than 300 ms once.
  const auto deadline = std::chrono::system_clock::now() + 2s;
  ctx.set_deadline(deadline);
  ctx.AddMetadata("x-delay-ms", "20000");
  EXPECT_EQ(Infer("iris", ctx).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The upstream saw (about) the client's deadline, not an infinite one.
  EXPECT_LE(upstream_.last_deadline(), deadline + 50ms);
  EXPECT_TRUE(Eventually([&] { return upstream_.cancelled() == 1; }));
  ExpectOnly(Settled("iris"), 1, Outcome::kTimeout);
}

INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyTest, ::testing::Values(Engine::kCalls, Engine::kFrames),
                         EngineName);

}  // namespace
}  // namespace lagscale::proxy
