// The gRPC passthrough's idle limit (GrpcProxyOptions::idle_timeout), for both engines: a client
// connection without a call in progress is closed with a GOAWAY after the limit, a call longer than
// the limit is never cut, and the client's next call simply reconnects.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "inference/grpc_service.grpc.pb.h"
#include "lagscale/proxy/grpc_proxy.h"
#include "support/grpc_upstream.h"

namespace lagscale::proxy {
namespace {

using namespace std::chrono_literals;
using Engine = GrpcProxyOptions::Engine;
using Clock = std::chrono::steady_clock;

constexpr auto kIdle = 400ms;

std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kCalls ? "Calls" : "Frames";
}

class GrpcProxyIdleTest : public ::testing::TestWithParam<Engine> {
 protected:
  GrpcProxyIdleTest() : table_(10), ledger_(table_, 1) {}

  void SetUp() override {
    GrpcProxyOptions options;
    options.listen = "127.0.0.1:0";
    options.upstream = upstream_.address();
    options.engine = GetParam();
    options.idle_timeout = kIdle;
    proxy_ = std::make_unique<GrpcProxy>(options, ledger_, 0, 1);
    proxy_->Start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  grpc::Status Infer(int delay_ms = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    if (delay_ms > 0) ctx.AddMetadata("x-delay-ms", std::to_string(delay_ms));
    inference::ModelInferRequest req;
    req.set_model_name("iris");
    inference::ModelInferResponse resp;
    return stub_->ModelInfer(&ctx, req, &resp);
  }

  // Waits (up to 10 s) for the channel to leave READY: the proxy closed the connection.
  bool ConnectionClosed() {
    return channel_->WaitForStateChange(GRPC_CHANNEL_READY, std::chrono::system_clock::now() + 10s);
  }

  // The ledger's "iris" once every call has ended there: a client can have its answer before the
  // proxy's side of the call has finished (the calls engine ends it on its own completion queue).
  metrics::ModelStats Iris() {
    const auto limit = Clock::now() + 10s;
    metrics::ModelStats iris;
    for (;;) {
      for (const auto& [name, stats] : ledger_.Snapshot().models) {
        if (name == "iris") iris = stats;
      }
      const bool settled = proxy_->active_calls() == 0 && iris.inflight() == 0;
      if (settled || Clock::now() > limit) break;
      std::this_thread::sleep_for(1ms);  // polling a condition, with a deadline
    }
    EXPECT_EQ(iris.inflight(), 0) << "calls still in flight";
    return iris;
  }

  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  testing::GrpcUpstream upstream_;
  std::unique_ptr<GrpcProxy> proxy_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_P(GrpcProxyIdleTest, IdleConnectionIsClosedAfterTheLimitAndTheNextCallReconnects) {
  ASSERT_TRUE(Infer().ok());
  const auto answered = Clock::now();
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  ASSERT_TRUE(ConnectionClosed()) << "the idle connection was never closed";
  EXPECT_GE(Clock::now() - answered, kIdle - 50ms) << "closed before the idle limit";
  EXPECT_NE(channel_->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE)
      << "a graceful GOAWAY leaves the channel idle, not failed";

  ASSERT_TRUE(Infer().ok()) << "the next call reconnects";
  const metrics::ModelStats s = Iris();
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.outcome(metrics::Outcome::kSuccess), 2u);
  EXPECT_EQ(s.inflight(), 0);
}

TEST_P(GrpcProxyIdleTest, ACallLongerThanTheLimitIsNotCut) {
  const auto started = Clock::now();
  ASSERT_TRUE(Infer(/*delay_ms=*/3 * static_cast<int>(kIdle.count())).ok());
  EXPECT_GE(Clock::now() - started, 3 * kIdle);
  EXPECT_EQ(Iris().outcome(metrics::Outcome::kSuccess), 1u);
  // The limit counts from the end of the call, not from the connection's start.
  EXPECT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
}

TEST_P(GrpcProxyIdleTest, AConnectionThatNeverSendsAnythingIsClosed) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(proxy_->port()));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
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
