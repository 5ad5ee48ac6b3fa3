// The gRPC passthrough's idle limit (GrpcProxyOptions::idle_timeout), for both engines: a client
// connection without a call in progress is closed with a GOAWAY after the limit, a call longer than
// the limit is never cut, and the client's next call simply reconnects.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "grpc_proxy_fixture.h"
#include "support/loopback.h"

namespace lagscale::proxy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kIdle = 400ms;

class GrpcProxyIdleTest : public GrpcProxyTest {
 protected:
  void SetUp() override { StartProxy(upstream_.address(), {"seldon-model"}, kIdle); }

  // One call for "iris"; the upstream answers after `delay_ms`.
  grpc::Status InferIris(int delay_ms = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    if (delay_ms > 0) ctx.AddMetadata("x-delay-ms", std::to_string(delay_ms));
    return Infer("iris", ctx);
  }

  // Waits (up to 10 s) for the channel to leave READY: the proxy closed the connection.
  bool ConnectionClosed() {
    return channel_->WaitForStateChange(GRPC_CHANNEL_READY, std::chrono::system_clock::now() + 10s);
  }
};

TEST_P(GrpcProxyIdleTest, IdleConnectionIsClosedAfterTheLimitAndTheNextCallReconnects) {
  ASSERT_TRUE(InferIris().ok());
  const auto answered = Clock::now();
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  ASSERT_TRUE(ConnectionClosed()) << "the idle connection was never closed";
  EXPECT_GE(Clock::now() - answered, kIdle - 50ms) << "closed before the idle limit";
  EXPECT_NE(channel_->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE)
      << "a graceful GOAWAY leaves the channel idle, not failed";

  ASSERT_TRUE(InferIris().ok()) << "the next call reconnects";
  const metrics::ModelStats s = Settled("iris");
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.outcome(Outcome::kSuccess), 2u);
  EXPECT_EQ(s.inflight(), 0);
}

TEST_P(GrpcProxyIdleTest, ACallLongerThanTheLimitIsNotCut) {
  const auto started = Clock::now();
  ASSERT_TRUE(InferIris(/*delay_ms=*/3 * static_cast<int>(kIdle.count())).ok());
  EXPECT_GE(Clock::now() - started, 3 * kIdle);
  EXPECT_EQ(Settled("iris").outcome(Outcome::kSuccess), 1u);
  // The limit counts from the end of the call, not from the connection's start.
  EXPECT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
}

TEST_P(GrpcProxyIdleTest, AConnectionThatNeverSendsAnythingIsClosed) {
  const int fd = testing::ConnectToLoopback(static_cast<uint16_t>(proxy_->port()));
  ASSERT_GE(fd, 0);
  const auto connected = Clock::now();
  // Read whatever the proxy sends (its SETTINGS, then a GOAWAY) until it closes; 10 s at most.
  bool closed = false;
  char buf[512];
  while (Clock::now() - connected < 10s) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      closed = true;
      break;
    }
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "a silent connection is held open past the idle limit";
  EXPECT_GE(Clock::now() - connected, kIdle - 50ms);
}

INSTANTIATE_TEST_SUITE_P(Engines, GrpcProxyIdleTest,
                         ::testing::Values(Engine::kCalls, Engine::kFrames), EngineName);

}  // namespace
}  // namespace lagscale::proxy
