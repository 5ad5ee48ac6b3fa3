// A client that opens streams and resets them at once, thousands in a row (the HTTP/2 "rapid
// reset" attack, CVE-2023-44487), loses its connection after nghttp2's budget (1,000 resets, then
// 33 a second) with a GOAWAY, while the proxy stays up, every stream it counted ends in the ledger,
// and other clients are served. The frames engine, whose HTTP/2 is nghttp2's.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "lagscale/proxy/grpc_proxy.h"
#include "support/grpc_upstream.h"
#include "support/loopback.h"

namespace lagscale::proxy {
namespace {

using namespace std::chrono_literals;

struct AttackResult {
  int streams_sent = 0;
  bool goaway = false;
  uint32_t goaway_error = NGHTTP2_NO_ERROR;
  bool closed = false;  // the proxy closed the connection
};

// Sends `count` ModelInfer streams, each reset right after its HEADERS, as fast as the socket
// takes them, reading what the proxy answers; stops when the proxy closes the connection.
AttackResult RapidReset(int port, int count) {
  AttackResult result;
  const int fd = testing::ConnectToLoopback(static_cast<uint16_t>(port));
  if (fd < 0) return result;

  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
        auto* r = static_cast<AttackResult*>(user);
        if (frame->hd.type == NGHTTP2_GOAWAY) {
          r->goaway = true;
          r->goaway_error = frame->goaway.error_code;
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_frame_send_callback(
      callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type == NGHTTP2_HEADERS) ++static_cast<AttackResult*>(user)->streams_sent;
        return 0;
      });
  nghttp2_session* session;
  nghttp2_session_client_new(&session, callbacks, &result);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);

  auto nv = [](const char* name, const char* value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value)), strlen(name),
                      strlen(value), NGHTTP2_NV_FLAG_NONE};
  };
  const std::vector<nghttp2_nv> headers = {
      nv(":method", "POST"),
      nv(":scheme", "http"),
      nv(":path", "/inference.GRPCInferenceService/ModelInfer"),
      nv(":authority", "proxy"),
      nv("content-type", "application/grpc"),
      nv("te", "trailers"),
      nv("seldon-model", "iris")};
  int submitted = 0;
  uint8_t buf[16384];
  const auto limit = std::chrono::steady_clock::now() + 20s;
  auto flush = [&] {
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session, &data)) > 0) {
      if (::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
    }
  };
  while (std::chrono::steady_clock::now() < limit) {
    // A batch of streams opened (their HEADERS sent; a stream reset before that never leaves
    // nghttp2), then every one of them reset.
    std::vector<int32_t> opened;
    for (int i = 0; i < 100 && submitted < count; ++i, ++submitted) {
      const int32_t id = nghttp2_submit_request(session, nullptr, headers.data(), headers.size(),
                                                nullptr, nullptr);
      if (id > 0) opened.push_back(id);
    }
    flush();
    for (int32_t id : opened) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    flush();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, submitted < count ? 0 : 2'000) < 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0) {
        result.closed = true;
        break;
      }
      nghttp2_session_mem_recv(session, buf, static_cast<size_t>(got));
    } else if (submitted >= count) {
      break;  // all sent and the proxy is quiet
    }
  }
  nghttp2_session_del(session);
  ::close(fd);
  return result;
}

TEST(GrpcProxyRapidResetTest, ABurstOfResetStreamsCostsTheClientItsConnectionAndNothingElse) {
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  testing::GrpcUpstream upstream;
  GrpcProxyOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream = upstream.address();
  options.engine = GrpcProxyOptions::Engine::kFrames;
  GrpcProxy proxy(options, ledger, 0, 1);
  proxy.Start();

  const AttackResult attack = RapidReset(proxy.port(), 5'000);
  EXPECT_TRUE(attack.goaway) << "no GOAWAY after " << attack.streams_sent << " reset streams";
  // nghttp2 ends such a session with INTERNAL_ERROR (the code it chose for CVE-2023-44487).
  EXPECT_NE(attack.goaway_error, uint32_t{NGHTTP2_NO_ERROR});
  // How many streams the client got out before it read the GOAWAY depends on the two sides' speed;
  // that the proxy closed the connection does not.
  EXPECT_TRUE(attack.closed) << "the connection outlived the burst";

  // Another client is served, and every stream the proxy counted has ended.
  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(proxy.port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  ctx.AddMetadata("seldon-model", "iris");
  inference::ModelInferRequest req;
  req.set_model_name("iris");
  inference::ModelInferResponse resp;
  ASSERT_TRUE(stub->ModelInfer(&ctx, req, &resp).ok());
  proxy.Shutdown(std::chrono::milliseconds(0));
  metrics::ModelStats iris;
  for (const auto& [name, stats] : ledger.Snapshot().models) {
    if (name == "iris") iris = stats;
  }
  EXPECT_EQ(iris.inflight(), 0);
  EXPECT_EQ(iris.completions(), iris.arrivals);
  EXPECT_EQ(iris.outcome(metrics::Outcome::kSuccess), 1u);
  EXPECT_LE(iris.arrivals, static_cast<uint64_t>(attack.streams_sent) + 1);
}

}  // namespace
}  // namespace lagscale::proxy
