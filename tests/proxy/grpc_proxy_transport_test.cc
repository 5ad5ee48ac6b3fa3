// The gRPC passthrough, part 2: connections and transport. A slow upstream handshake, calls on
// every thread at once, shutdown with calls in flight, flow control both ways, calls queued behind
// the upstream's stream limit, an upstream restart and a broken client connection.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "grpc_proxy_fixture.h"
#include "lagscale/base/host_port.h"
#include "support/loopback.h"
#include "support/process.h"

namespace lagscale::proxy {
namespace {

// A TCP relay in front of the upstream whose answers start `delay` late: the HTTP/2 handshake
// of a connection through it takes that long, as on a busy machine (or under a sanitizer).
class SlowHandshakeRelay {
 public:
  SlowHandshakeRelay(const std::string& upstream, std::chrono::milliseconds delay)
      : upstream_port_(base::ParseHostPort(upstream).OrThrow().port), delay_(delay) {
    listener_ = testing::ListenOnLoopback(port_);
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
      const int server = testing::ConnectToLoopback(upstream_port_);
      if (server < 0) {
        ::close(client);
        continue;
      }
      fds_.push_back(client);
      fds_.push_back(server);
      threads_.emplace_back([client, server] { Pump(client, server, {}); });
      threads_.emplace_back([this, client, server] { Pump(server, client, delay_); });
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  const uint16_t upstream_port_;
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
  EXPECT_TRUE(Eventually([&] {
    return narrow.received() >= 1 && Stats("iris").arrivals == kCalls;
  })) << "received "
      << narrow.received() << ", arrivals " << Stats("iris").arrivals;
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
  const std::string address = upstream_.address();
  upstream_.Stop();  // GOAWAY, then the connection closes
  // Held until the restarted upstream binds it: no parallel test can take the port meanwhile.
  std::optional<testing::RefusingPort> held(std::in_place, address);
  // While it is down: UNAVAILABLE at once (no queueing until the deadline), as upstream_error.
  grpc::ClientContext down;
  down.set_deadline(std::chrono::system_clock::now() + 20s);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(Infer("iris", down).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
  // Counted as the upstream's failure, exactly once. Which failure depends on how far its
  // shutdown got: upstream_error when the proxy's channel found the connection closed,
  // server_error when the upstream, still closing it, refused the call itself (UNAVAILABLE
  // received from it; once seen under ASan).
  const metrics::ModelStats down_stats = Settled("iris");
  EXPECT_EQ(down_stats.arrivals, 2u);
  EXPECT_EQ(down_stats.outcome(Outcome::kSuccess), 1u) << OutcomesText(down_stats);
  EXPECT_EQ(down_stats.outcome(Outcome::kUpstreamError) + down_stats.outcome(Outcome::kServerError),
            1u)
      << OutcomesText(down_stats);
  testing::GrpcUpstream restarted(port);
  ASSERT_EQ(restarted.port(), port) << "the port was taken meanwhile";
  held.reset();
  // Same channel: the proxy reconnects on its own (backoff 100 ms to 1 s).
  EXPECT_TRUE(Eventually([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    return Infer("iris", ctx).ok();
  }));
  // Calls made while the proxy reconnected failed on its own channel: upstream_error.
  auto s = Settled("iris");
  EXPECT_EQ(s.inflight(), 0);
  EXPECT_GE(s.outcome(Outcome::kSuccess), 2u);
  EXPECT_EQ(s.outcome(Outcome::kSuccess) + s.outcome(Outcome::kUpstreamError) +
                s.outcome(Outcome::kServerError),
            s.arrivals)
      << OutcomesText(s);
}

TEST_P(GrpcProxyTest, ABrokenClientConnectionDoesNotDisturbOthers) {
  // Not HTTP/2 at all, then a valid preface followed by garbage frames.
  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\xff')}) {
    const int fd = testing::ConnectToLoopback(static_cast<uint16_t>(proxy_->port()));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(junk.size()));
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

}  // namespace
}  // namespace lagscale::proxy
