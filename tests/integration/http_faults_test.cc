// What the client sees when something goes wrong on the HTTP/1.1 path: the upstream down, slow or
// closing mid-response, the client leaving, smuggling shapes, oversize heads and bodies,
// slowloris, and a SIGTERM drain. After each, /stats shows nothing in flight and every arrival
// ended with the outcome the contract names.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "support/http_peers.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

std::string Get(const std::string& target, const std::string& extra = {}) {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

// Reads requests and never answers; records when the proxy closes the connection.
struct SilentUpstream {
  std::atomic<int> closed{0};
  FakeUpstream server{[this](FakeConn& c) {
    if (c.ReadHead().empty()) return;
    if (c.WaitClosed(20s)) ++closed;
  }};
};

TEST(HttpFaults, UpstreamDownAnswers502AtOnceWithAReason) {
  const RefusingPort dead;
  SidecarProcess sidecar = StartSidecar(dead.address());
  ASSERT_TRUE(sidecar.ok());
  const auto start = std::chrono::steady_clock::now();
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/down/infer"));
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("upstream unreachable"), std::string::npos) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_EQ(HttpGet(sidecar.admin, "/readyz").status, 503);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["down"]["outcomes"]["upstream_error"], 1);
}

TEST(HttpFaults, SlowUpstreamGets504AndIsDropped) {
  SilentUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address(), {"--upstream-timeout", "300ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/slow/infer"));
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 504);
  EXPECT_TRUE(Eventually([&] { return upstream.closed == 1; }));
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["slow"]["outcomes"]["timeout"], 1);
}

TEST(HttpFaults, UpstreamClosingMidResponseClosesTheClient) {
  FakeUpstream upstream([](FakeConn& c) {
    c.ReadHead();
    c.Send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b");
    c.socket.Close();
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/cut/infer"));
  EXPECT_EQ(client.Read().status, 0);  // a truncated body is never a complete response
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["cut"]["outcomes"]["upstream_error"], 1);
}

TEST(HttpFaults, UpstreamClosingBeforeAnsweringGets502) {
  FakeUpstream upstream([](FakeConn& c) {
    c.ReadHead();
    c.socket.Close();
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/gone/infer"));
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("upstream closed"), std::string::npos) << r.body;
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["gone"]["outcomes"]["upstream_error"], 1);
}

TEST(HttpFaults, ClientAbortEndsTheRequestAndDropsTheUpstream) {
  SilentUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address());
  ASSERT_TRUE(sidecar.ok());
  {
    RawClient client(sidecar.http);
    client.Send(Get("/v2/models/leaver/infer"));
    ASSERT_TRUE(Eventually([&] {
      return ModelValue(Stats(sidecar.admin), "leaver", "inflight") == 1;
    }));
  }  // the client closes while the upstream works
  EXPECT_TRUE(Eventually([&] { return upstream.closed == 1; }));
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["leaver"]["outcomes"]["client_abort"], 1);
}

TEST(HttpFaults, SmugglingShapesGet400AndAClosedConnection) {
  FakeUpstream upstream([](FakeConn& c) { c.ReadHead(); });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  const std::string post = "POST /v2/models/s/infer HTTP/1.1\r\nHost: t\r\n";
  const std::vector<std::string> shapes = {
      post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
      post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      post + "Content-Length: 5, 6\r\n\r\nhello!",
      post + "Transfer-Encoding: gzip\r\n\r\nhello",
      post + "Transfer-Encoding: chunked, gzip\r\n\r\nhello",
      post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
  };
  for (const std::string& shape : shapes) {
    RawClient client(sidecar.http);
    client.Send(shape);
    RawResponse r = client.Read();
    EXPECT_EQ(r.status, 400) << shape;
    EXPECT_FALSE(r.keep_alive) << shape;
    EXPECT_TRUE(client.socket().WaitClosed()) << shape;
  }
  EXPECT_EQ(upstream.accepted(), 0);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(StatsTotal(stats, "arrivals"), 0u);
  const std::string metrics = HttpGet(sidecar.admin, "/metrics").body;
  EXPECT_NE(metrics.find("kind=\"smuggling\"} " + std::to_string(shapes.size())),
            std::string::npos)
      << metrics;
}

TEST(HttpFaults, MalformedRequestGets400) {
  FakeUpstream upstream([](FakeConn& c) { c.ReadHead(); });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  for (const std::string& bad : {std::string("GARBAGE\r\n\r\n"),
                                std::string("GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n"),
                                std::string("GET / HTTP/1.1\r\n\r\n")}) {  // no Host
    RawClient client(sidecar.http);
    client.Send(bad);
    EXPECT_EQ(client.Read().status, 400) << bad;
    EXPECT_TRUE(client.socket().WaitClosed()) << bad;
  }
  EXPECT_EQ(upstream.accepted(), 0);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(StatsTotal(stats, "arrivals"), 0u);
}

TEST(HttpFaults, OversizeHeadersGet431) {
  FakeUpstream upstream([](FakeConn& c) { c.ReadHead(); });
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--max-header-bytes", "1024"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/big/infer", "X-Big: " + std::string(2000, 'a') + "\r\n"));
  EXPECT_EQ(client.Read().status, 431);
  EXPECT_TRUE(client.socket().WaitClosed());
  EXPECT_EQ(upstream.accepted(), 0);
  SettledStats(sidecar.admin);
}

TEST(HttpFaults, BodyOverTheLimitGets413AndCountsAsClientError) {
  FakeUpstream upstream([](FakeConn& c) { c.ReadHead(); });
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--max-body-bytes", "100"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("POST /v2/models/fat/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
              std::string(1000, 'z'));
  EXPECT_EQ(client.Read().status, 413);
  EXPECT_EQ(upstream.accepted(), 0);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["fat"]["outcomes"]["client_error"], 1);
}

TEST(HttpFaults, SlowlorisGets408) {
  FakeUpstream upstream([](FakeConn& c) { c.ReadHead(); });
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--header-timeout", "300ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("GET /v2/models/slowloris/infer HTTP/1.1\r\nHost: t\r\nX-A: ");
  RawResponse r = client.Read(false, 5s);
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(client.socket().WaitClosed());
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(StatsTotal(stats, "arrivals"), 0u);
}

TEST(HttpFaults, StalledRequestBodyGets408) {
  SilentUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address(), {"--idle-timeout", "300ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("POST /v2/models/stall/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
              "only ten b");
  EXPECT_EQ(client.Read(false, 5s).status, 408);
  EXPECT_TRUE(Eventually([&] { return upstream.closed == 1; }));
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["stall"]["outcomes"]["client_error"], 1);
}

// The answer has begun (a streaming server answering before the whole upload): a 408 can no
// longer be sent, so the connection closes, and the stall is still the client's error.
TEST(HttpFaults, BodyStalledAfterTheAnswerBeganIsTheClientsError) {
  FakeUpstream upstream([](FakeConn& c) {
    if (c.ReadHead().empty()) return;
    if (!c.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")) return;
    c.WaitClosed(20s);
  });
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--idle-timeout", "300ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(
      "POST /v2/models/stall/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
      "only ten b");
  EXPECT_TRUE(client.ReadUntil("first\r\n"));
  EXPECT_TRUE(client.socket().WaitClosed(5s));
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["stall"]["outcomes"]["client_error"], 1);
}

// --upstream-timeout is the server's silence while an answer is due: a slow but steady upload
// that takes longer is the client's time (bounded by --idle-timeout between pieces), not a 504,
// and the answer is due from the end of the body, not from the start of the exchange.
TEST(HttpFaults, SlowButSteadyUploadIsNotAnUpstreamTimeout) {
  FakeUpstream upstream([](FakeConn& c) {
    const std::string head = c.ReadHead();
    if (head.empty() || !c.ReadBody(std::stoull(HeadValue(head, "content-length")))) return;
    std::this_thread::sleep_for(200ms);  // service time, inside the timeout once the body is in
    c.Send(OkResponse("ok"));
  });
  SidecarProcess sidecar =
      StartSidecar(upstream.address(), {"--upstream-timeout", "300ms", "--idle-timeout", "2s"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("POST /v2/models/upload/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 48\r\n\r\n");
  for (int i = 0; i < 6; ++i) {
    // The client's pace: 840 ms in all, nearly 3x the timeout, the body whole 60 ms before the
    // third 300 ms mark and the answer 200 ms after it.
    std::this_thread::sleep_for(140ms);
    client.Send("8 bytes.");
  }
  RawResponse r = client.Read(false, 5s);
  EXPECT_EQ(r.status, 200);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["upload"]["outcomes"]["success"], 1);
  EXPECT_EQ(Outcome(stats, "timeout"), 0u);
}

TEST(HttpFaults, IdleKeepAliveConnectionIsClosed) {
  FakeUpstream upstream([](FakeConn& c) { c.ReadHead(); });
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--idle-timeout", "200ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  EXPECT_TRUE(client.socket().WaitClosed(5s));
}

TEST(HttpFaults, SigtermDrainsInFlightRequestsThenExitsZero) {
  std::atomic<bool> release{false};
  FakeUpstream upstream([&](FakeConn& c) {
    if (c.ReadHead().empty()) return;
    Eventually([&] { return release.load(); }, 20s);
    c.Send(OkResponse("finished"));
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  EXPECT_EQ(HttpGet(sidecar.admin, "/readyz").status, 200);
  RawClient busy(sidecar.http);
  busy.Send(Get("/v2/models/drain/infer"));
  ASSERT_TRUE(Eventually(
      [&] { return ModelValue(Stats(sidecar.admin), "drain", "inflight") == 1; }));
  RawClient idle(sidecar.http);
  sidecar.process->Signal(SIGTERM);
  EXPECT_TRUE(Eventually([&] { return HttpGet(sidecar.admin, "/readyz").status == 503; }));
  EXPECT_TRUE(idle.socket().WaitClosed());                 // idle connections close at once
  EXPECT_FALSE(RawClient(sidecar.http).Send(Get("/")) &&  // and nobody new gets in
               RawClient(sidecar.http).Read().status != 0);
  auto stats = Stats(sidecar.admin);
  EXPECT_EQ(stats["models"]["drain"]["inflight"], 1);
  release = true;
  RawResponse r = busy.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "finished");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(sidecar.process->Wait(10s), 0);
}

TEST(HttpFaults, DrainTimeoutCutsStragglersAndStillExitsZero) {
  SilentUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address(), {"--drain-timeout", "200ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient busy(sidecar.http);
  busy.Send(Get("/v2/models/stuck/infer"));
  ASSERT_TRUE(Eventually(
      [&] { return ModelValue(Stats(sidecar.admin), "stuck", "inflight") == 1; }));
  sidecar.process->Signal(SIGTERM);
  EXPECT_EQ(sidecar.process->Wait(5s), 0);
  EXPECT_TRUE(busy.socket().WaitClosed());
}

}  // namespace
}  // namespace lagscale::testing
