#include "lagscale/proxy/grpc_proxy.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "lagscale/v1/lag.grpc.pb.h"
#include "support/grpc_upstream.h"

namespace lagscale::proxy {
namespace {

using metrics::Outcome;
using namespace std::chrono_literals;

// Polls `done` until it holds or 5 s pass.
template <typename F>
bool Eventually(F done) {
  const auto limit = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

using Engine = GrpcProxyOptions::Engine;

// Every behaviour holds for both engines.
std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kCalls ? "Calls" : "Frames";
}

class GrpcProxyTest : public ::testing::TestWithParam<Engine> {
 protected:
  GrpcProxyTest() : table_(100), ledger_(table_, 4) {}

  void SetUp() override { StartProxy(upstream_.address()); }

  void StartProxy(const std::string& upstream,
                  std::vector<std::string> model_headers = {"seldon-model"}) {
    GrpcProxyOptions options;
    options.listen = "127.0.0.1:0";
    options.upstream = upstream;
    options.model_headers = std::move(model_headers);
    options.engine = GetParam();
    // Like the sidecar: the HTTP threads own shards 0-1, gRPC gets the last two.
    proxy_ = std::make_unique<GrpcProxy>(options, ledger_, 2, 2);
    proxy_->Start();
    ASSERT_GT(proxy_->port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  // Counters of `model` ("" = unattributed) once every call through the proxy has ended.
  metrics::ModelStats Settled(const std::string& model) {
    EXPECT_TRUE(Eventually([&] {
      if (proxy_->active_calls() != 0) return false;
      auto snap = ledger_.Snapshot();
      if (snap.unattributed.inflight() != 0) return false;
      for (const auto& [name, stats] : snap.models) {
        if (stats.inflight() != 0) return false;
      }
      return true;
    })) << "calls still in flight";
    return Stats(model);
  }

  metrics::ModelStats Stats(const std::string& model) {
    auto snap = ledger_.Snapshot();
    if (model.empty()) return snap.unattributed;
    for (const auto& [name, stats] : snap.models) {
      if (name == model) return stats;
    }
    return {};
  }

  grpc::Status Infer(const std::string& model, grpc::ClientContext& ctx,
                     inference::ModelInferResponse* resp = nullptr) {
    inference::ModelInferRequest req;
    req.set_model_name(model);
    req.set_id("req-1");
    req.add_raw_input_contents(std::string(1000, 'x'));  // fields after the name are skipped
    inference::ModelInferResponse ignored;
    return stub_->ModelInfer(&ctx, req, resp ? resp : &ignored);
  }

  static void ExpectOnly(const metrics::ModelStats& s, uint64_t n, Outcome outcome) {
    EXPECT_EQ(s.arrivals, n);
    EXPECT_EQ(s.completions(), n);
    std::string all;
    for (size_t i = 0; i < metrics::kOutcomeCount; ++i) {
      all += std::string(metrics::OutcomeName(static_cast<Outcome>(i))) + "=" +
             std::to_string(s.outcomes[i]) + " ";
    }
    EXPECT_EQ(s.outcome(outcome), n) << metrics::OutcomeName(outcome) << " wanted; have " << all;
    EXPECT_EQ(s.inflight(), 0);
  }

  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  testing::GrpcUpstream upstream_;
  std::unique_ptr<GrpcProxy> proxy_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

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
  const auto deadline = std::chrono::system_clock::now() + 300ms;
  ctx.set_deadline(deadline);
  ctx.AddMetadata("x-delay-ms", "20000");
  EXPECT_EQ(Infer("iris", ctx).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The upstream saw (about) the client's deadline, not an infinite one.
  EXPECT_LE(upstream_.last_deadline(), deadline + 50ms);
  EXPECT_TRUE(Eventually([&] { return upstream_.cancelled() == 1; }));
  ExpectOnly(Settled("iris"), 1, Outcome::kTimeout);
}

// A TCP relay in front of the upstream whose answers start `delay` late: the HTTP/2 handshake
// of a connection through it takes that long, as on a busy machine (or under a sanitizer).
class SlowHandshakeRelay {
 public:
  SlowHandshakeRelay(const std::string& upstream, std::chrono::milliseconds delay)
      : upstream_port_(std::stoi(upstream.substr(upstream.rfind(':') + 1))), delay_(delay) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~SlowHandshakeRelay() {
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listener_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    return addr;
  }
  static void Pump(int from, int to, std::chrono::milliseconds delay) {
    char buf[16384];
    bool first = true;
    for (;;) {
      const ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (first && delay.count() > 0) std::this_thread::sleep_for(delay);  // the slow part
      first = false;
      if (::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::shutdown(to, SHUT_WR);
  }
  void AcceptLoop() {
    for (;;) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr = Loopback(upstream_port_);
      ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fds_.push_back(client);
      fds_.push_back(server);
      threads_.emplace_back([client, server] { Pump(client, server, {}); });
      threads_.emplace_back([this, client, server] { Pump(server, client, delay_); });
    }
  }

  int listener_ = -1;
  int port_ = 0;
  const int upstream_port_;
  const std::chrono::milliseconds delay_;
  std::thread acceptor_;
  // Written by the acceptor thread only; read once it has been joined.
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

TEST_P(GrpcProxyTest, SlowUpstreamHandshakeDoesNotFailCalls) {
  // gRPC gives a connection attempt at least GRPC_ARG_MIN_RECONNECT_BACKOFF_MS; at the 100 ms it
  // once had, a handshake slowed by a busy machine failed the attempt and the calls waiting on it
  // ended as upstream_error.
  SlowHandshakeRelay relay(upstream_.address(), 600ms);
  StartProxy(relay.address());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  EXPECT_TRUE(Infer("iris", ctx).ok());
  ExpectOnly(Settled("iris"), 1, Outcome::kSuccess);
}

TEST_P(GrpcProxyTest, ConcurrentCallsOnAllThreadsAreCountedExactly) {
  constexpr int kClients = 8;
  constexpr int kCalls = 40;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // Own channels, so the calls spread over the proxy's threads.
      grpc::ChannelArguments args;
      args.SetInt("lagscale.test.client", c);
      auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
          "127.0.0.1:" + std::to_string(proxy_->port()), grpc::InsecureChannelCredentials(), args));
      for (int i = 0; i < kCalls; ++i) {
        inference::ModelInferRequest req;
        req.set_model_name(i % 2 ? "odd" : "even");
        inference::ModelInferResponse resp;
        grpc::ClientContext ctx;
        if (stub->ModelInfer(&ctx, req, &resp).ok()) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kCalls);
  ExpectOnly(Settled("odd"), kClients * kCalls / 2, Outcome::kSuccess);
  ExpectOnly(Stats("even"), kClients * kCalls / 2, Outcome::kSuccess);
}

TEST_P(GrpcProxyTest, ShutdownEndsCallsInProgressInTheLedger) {
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  inference::ModelInferRequest req;
  req.set_model_name("bert");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(Eventually([&] { return Stats("bert").inflight() == 1; }));
  proxy_->Shutdown(std::chrono::milliseconds(50));
  EXPECT_FALSE(stream->Finish().ok());
  auto s = Stats("bert");
  EXPECT_EQ(s.arrivals, 1u);
  EXPECT_EQ(s.completions(), 1u);
  EXPECT_EQ(s.inflight(), 0);
  EXPECT_EQ(proxy_->active_calls(), 0);
}

TEST_P(GrpcProxyTest, MessagesLargerThanEveryFlowControlWindowPassAndAreAttributed) {
  // 3 MiB: many DATA frames, and more than the windows either side grants, so the call completes
  // only if windows reopen as the bytes move on.
  inference::ModelInferRequest req;
  req.set_model_name("big");
  req.set_id("large");
  req.add_raw_input_contents(std::string(3 << 20, 'x'));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    inference::ModelInferResponse resp;
    ASSERT_TRUE(stub_->ModelInfer(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.id(), "large");
  }
  ExpectOnly(Settled("big"), 3, Outcome::kSuccess);
}

TEST_P(GrpcProxyTest, AClientThatOutpacesTheUpstreamIsHeldBackByFlowControl) {
  // The upstream reads one message and then waits for Release(): what the client can still send
  // is bounded by the windows on the way (the proxy reopens its window to the client only for
  // bytes the upstream side took), so the client's writes stall instead of the proxy buffering.
  constexpr int kMessages = 400;  // 100 MiB if nothing held the client back
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  inference::ModelInferRequest req;
  req.set_model_name("flood");
  req.add_raw_input_contents(std::string(256 << 10, 'x'));
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kMessages && stream->Write(req); ++i) ++written;
  });
  ASSERT_TRUE(Eventually([&] { return upstream_.received() == 1; }));
  // Wait until the writes stall: no progress for 300 ms (the stall is what is being shown).
  int last = -1;
  auto still_since = std::chrono::steady_clock::now();
  const auto limit = still_since + 20s;
  while (std::chrono::steady_clock::now() < limit &&
         std::chrono::steady_clock::now() - still_since < 300ms) {
    if (written.load() != last) {
      last = written.load();
      still_since = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_LT(written.load(), kMessages / 2) << "the client was never held back";
  RecordProperty("written", written.load());
  ctx.TryCancel();
  writer.join();
  upstream_.Release(kMessages);
  const auto s = Settled("flood");
  EXPECT_EQ(s.inflight(), 0);
  EXPECT_EQ(s.completions(), s.arrivals);
}

TEST_P(GrpcProxyTest, CallsQueuedBehindTheUpstreamsStreamLimitCanBeCancelled) {
  // One stream at a time upstream: the other calls wait in the proxy's HTTP/2 client (frames) or
  // gRPC's (calls) until the client gives up on them.
  testing::GrpcUpstream narrow(0, 1);
  StartProxy(narrow.address());
  constexpr int kCalls = 4;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> callers;
  std::atomic<int> cancelled{0};
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->AddMetadata("x-delay-ms", "20000");
    callers.emplace_back([&, ctx = contexts.back().get()] {
      if (Infer("iris", *ctx).error_code() == grpc::StatusCode::CANCELLED) ++cancelled;
    });
  }
  // One call per upstream connection gets through (calls: one connection per thread).
  EXPECT_TRUE(Eventually([&] { return narrow.received() >= 1 && Stats("iris").arrivals == kCalls; }))
      << "received " << narrow.received() << ", arrivals " << Stats("iris").arrivals;
  for (auto& ctx : contexts) ctx->TryCancel();
  for (auto& t : callers) t.join();
  EXPECT_EQ(cancelled.load(), kCalls);
  ExpectOnly(Settled("iris"), kCalls, Outcome::kClientAbort);
  grpc::ClientContext after;
  EXPECT_TRUE(Infer("iris", after).ok());
}

TEST_P(GrpcProxyTest, RestartedUpstreamIsUsedAgainWithinSeconds) {
  grpc::ClientContext first;
  ASSERT_TRUE(Infer("iris", first).ok());
  const int port = upstream_.port();
  upstream_.Stop();  // GOAWAY, then the connection closes
  // While it is down: UNAVAILABLE at once (no queueing until the deadline), as upstream_error.
  grpc::ClientContext down;
  down.set_deadline(std::chrono::system_clock::now() + 20s);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(Infer("iris", down).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
  testing::GrpcUpstream restarted(port);
  ASSERT_EQ(restarted.port(), port) << "the port was taken meanwhile";
  // Same channel: the proxy reconnects on its own (backoff 100 ms to 1 s).
  EXPECT_TRUE(Eventually([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    return Infer("iris", ctx).ok();
  }));
  auto s = Settled("iris");
  EXPECT_EQ(s.inflight(), 0);
  EXPECT_GE(s.outcome(Outcome::kSuccess), 2u);
  EXPECT_GE(s.outcome(Outcome::kUpstreamError), 1u);
  EXPECT_EQ(s.outcome(Outcome::kSuccess) + s.outcome(Outcome::kUpstreamError), s.arrivals);
}

TEST_P(GrpcProxyTest, ABrokenClientConnectionDoesNotDisturbOthers) {
  // Not HTTP/2 at all, then a valid preface followed by garbage frames.
  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\xff')}) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(proxy_->port()));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
    char buf[512];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {  // the proxy answers (or not) and closes
    }
    ::close(fd);
  }
  grpc::ClientContext ctx;
  ASSERT_TRUE(Infer("iris", ctx).ok());
  ExpectOnly(Settled("iris"), 1, Outcome::kSuccess);
  EXPECT_EQ(Stats("").arrivals, 0u);
}

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

class GrpcProxyOtherServices : public ::testing::TestWithParam<Engine> {};

TEST_P(GrpcProxyOtherServices, StreamsAndUnknownMethodsOfAnyServicePassThrough) {
  Echo echo;
  int upstream_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &upstream_port);
  builder.RegisterService(&echo);
  auto upstream = builder.BuildAndStart();
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  GrpcProxyOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream = "127.0.0.1:" + std::to_string(upstream_port);
  options.engine = GetParam();
  GrpcProxy proxy(options, ledger, 0, 1);
  proxy.Start();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy.port()),
                                     grpc::InsecureChannelCredentials());

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

  ASSERT_TRUE(Eventually([&] { return proxy.active_calls() == 0; }));
  auto s = ledger.Snapshot().unattributed;
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.outcome(Outcome::kSuccess), 1u);
  EXPECT_EQ(s.outcome(Outcome::kServerError), 1u);
  EXPECT_EQ(s.inflight(), 0);
  upstream->Shutdown(std::chrono::system_clock::now());
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
  Resetter resetter;
  int upstream_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &upstream_port);
  builder.RegisterService(&resetter);
  auto upstream = builder.BuildAndStart();
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  GrpcProxyOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream = "127.0.0.1:" + std::to_string(upstream_port);
  options.engine = GetParam();
  GrpcProxy proxy(options, ledger, 0, 1);
  proxy.Start();
  auto stub = lagscale::v1::LagService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(proxy.port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = stub->Report(&ctx);
  stream->Write(lagscale::v1::PodReport());
  lagscale::v1::ReportAck ack;
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return proxy.active_calls() == 0; }));
  const auto s = ledger.Snapshot().unattributed;
  EXPECT_EQ(s.arrivals, 1u);
  EXPECT_EQ(s.outcome(Outcome::kServerError), 1u);
  EXPECT_EQ(s.inflight(), 0);
  upstream->Shutdown(std::chrono::system_clock::now());
}

class GrpcProxyUpstreamDown : public ::testing::TestWithParam<Engine> {};

TEST_P(GrpcProxyUpstreamDown, UnreachableUpstreamIsUnavailableAndUpstreamError) {
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  std::string dead;
  {
    testing::GrpcUpstream gone;  // a port that was just free
    dead = gone.address();
  }
  GrpcProxyOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream = dead;
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

INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyTest, ::testing::Values(Engine::kCalls, Engine::kFrames),
                         EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyOtherServices,
                         ::testing::Values(Engine::kCalls, Engine::kFrames), EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyUpstreamDown,
                         ::testing::Values(Engine::kCalls, Engine::kFrames), EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyStart, ::testing::Values(Engine::kCalls, Engine::kFrames),
                         EngineName);

}  // namespace
}  // namespace lagscale::proxy
