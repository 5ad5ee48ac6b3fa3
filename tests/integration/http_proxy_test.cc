// The HTTP/1.1 request path as a client sees it: the real lagscale-sidecar in front of nginx or a
// fake upstream, exact bytes on the wire, and after every scenario /stats shows nothing in flight
// and arrivals == completions with the right outcomes.
#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/http_peers.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

// Answers every request with its request line and body, on a keep-alive connection.
void Echo(FakeConn& c) {
  for (;;) {
    const std::string head = c.ReadHead();
    if (head.empty()) return;
    std::string body;
    const std::string length = HeadValue(head, "content-length");
    if (HeadValue(head, "transfer-encoding") == "chunked") {
      auto chunked = c.ReadChunked();
      if (!chunked) return;
      body = *chunked;
    } else if (!length.empty() && !c.ReadBody(std::stoull(length), &body)) {
      return;
    }
    if (!c.Send(OkResponse(head.substr(0, head.find("\r\n")) + "\n" + body))) return;
  }
}

std::string Get(const std::string& target, const std::string& extra = {}) {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

TEST(HttpProxy, KeepAliveReusesClientAndUpstreamConnections) {
  FakeUpstream upstream(Echo);
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--threads", "1"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.Send(Get("/v2/models/iris/infer")));
    RawResponse r = client.Read();
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.body, "GET /v2/models/iris/infer HTTP/1.1\n");
  }
  EXPECT_EQ(upstream.accepted(), 1);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["iris"]["arrivals"], 5);
  EXPECT_EQ(stats["models"]["iris"]["outcomes"]["success"], 5);
}

TEST(HttpProxy, HopByHopHeadersAreNotForwarded) {
  std::atomic<bool> clean{false};
  FakeUpstream upstream([&](FakeConn& c) {
    const std::string head = c.ReadHead();
    clean = HeadValue(head, "x-secret").empty() && HeadValue(head, "keep-alive").empty() &&
            HeadValue(head, "connection").empty() && HeadValue(head, "x-kept") == "yes";
    c.Send(OkResponse("ok", "Keep-Alive: timeout=5\r\nConnection: X-Upstream\r\nX-Upstream: 1\r\n"));
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/", "Connection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: s\r\n"
                       "X-Kept: yes\r\n"));
  RawResponse r = client.Read();
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(clean);
  EXPECT_EQ(r.headers.count("x-upstream"), 0u);
  EXPECT_EQ(r.headers.count("keep-alive"), 0u);
  SettledStats(sidecar.admin);
}

TEST(HttpProxy, ChunkedBodiesStreamBothWays) {
  std::atomic<bool> chunked_upstream{false};
  FakeUpstream upstream([&](FakeConn& c) {
    for (;;) {
      const std::string head = c.ReadHead();
      if (head.empty()) return;
      chunked_upstream = HeadValue(head, "transfer-encoding") == "chunked" &&
                         HeadValue(head, "content-length").empty();
      auto body = c.ReadChunked();
      if (!body) return;
      c.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (char ch : *body) c.Send(std::string("1\r\n") + ch + "\r\n");
      c.Send("0\r\n\r\n");
    }
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  RawResponse r = client.Read();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.headers[boost::beast::http::field::transfer_encoding], "chunked");
  EXPECT_TRUE(chunked_upstream);
  // The connection is still good for the next request.
  client.Send("POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              "2\r\nok\r\n0\r\n\r\n");
  EXPECT_EQ(client.Read().body, "ok");
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["echo"]["outcomes"]["success"], 2);
}

TEST(HttpProxy, PipelinedRequestsAreAnsweredInOrder) {
  FakeUpstream upstream(Echo);
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/a/ready") +
              "POST /v2/models/b/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz" +
              Get("/v2/models/c/ready"));
  EXPECT_EQ(client.Read().body, "GET /v2/models/a/ready HTTP/1.1\n");
  EXPECT_EQ(client.Read().body, "POST /v2/models/b/infer HTTP/1.1\nxyz");
  EXPECT_EQ(client.Read().body, "GET /v2/models/c/ready HTTP/1.1\n");
  auto stats = SettledStats(sidecar.admin);
  for (const char* m : {"a", "b", "c"}) EXPECT_EQ(stats["models"][m]["outcomes"]["success"], 1);
}

TEST(HttpProxy, HeadAnd204And304CarryNoBody) {
  Nginx nginx(R"(  location = /empty { return 204; }
  location = /same { return 304; }
  location / { return 200 "0123456789"; })");
  ASSERT_TRUE(nginx.ok());
  SidecarProcess sidecar = StartSidecar(nginx.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("HEAD /v2/models/h/ready HTTP/1.1\r\nHost: t\r\n\r\n");
  RawResponse head = client.Read(/*head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers[boost::beast::http::field::content_length], "10");
  client.Send(Get("/empty"));
  EXPECT_EQ(client.Read().status, 204);
  client.Send(Get("/same"));
  EXPECT_EQ(client.Read().status, 304);
  // Had any of them carried a body, this response would be misread.
  client.Send(Get("/v2/models/h/ready"));
  RawResponse get = client.Read();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "0123456789");
  EXPECT_TRUE(client.buffer().empty());
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["h"]["outcomes"]["success"], 2);
  EXPECT_EQ(Outcome(stats, "success"), 4u);
}

TEST(HttpProxy, ExpectContinueWaitsForTheUpstream) {
  FakeUpstream upstream([](FakeConn& c) {
    const std::string head = c.ReadHead();
    if (HeadValue(head, "expect") != "100-continue") return;
    c.Send("HTTP/1.1 100 Continue\r\n\r\n");
    std::string body;
    if (!c.ReadBody(5, &body)) return;
    c.Send(OkResponse("got " + body));
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("POST /v2/models/c/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
              "Expect: 100-continue\r\n\r\n");
  ASSERT_TRUE(client.ReadUntil("\r\n\r\n"));
  EXPECT_EQ(client.buffer().rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << client.buffer();
  client.buffer().erase(0, client.buffer().find("\r\n\r\n") + 4);
  client.Send("hello");
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "got hello");
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["c"]["outcomes"]["success"], 1);
}

TEST(HttpProxy, ServerSentEventsArriveChunkByChunk) {
  std::atomic<bool> release{false};
  FakeUpstream upstream([&](FakeConn& c) {
    c.ReadHead();
    c.Send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
           "Transfer-Encoding: chunked\r\n\r\n");
    c.Send("b\r\ndata: one\n\n\r\n");
    // The second event waits until the test has seen the first one through the proxy.
    Eventually([&] { return release.load(); }, 10s);
    c.Send("b\r\ndata: two\n\n\r\n0\r\n\r\n");
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/llm/generate_stream"));
  EXPECT_TRUE(client.ReadUntil("data: one\n\n", 5s));
  EXPECT_EQ(client.buffer().find("data: two"), std::string::npos);
  EXPECT_EQ(ModelValue(Stats(sidecar.admin), "llm", "inflight"), 1);
  release = true;
  EXPECT_TRUE(client.ReadUntil("0\r\n\r\n"));
  EXPECT_NE(client.buffer().find("data: two\n\n"), std::string::npos);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["llm"]["outcomes"]["success"], 1);
}

TEST(HttpProxy, CloseDelimitedResponseIsRechunkedForTheClient) {
  FakeUpstream upstream([](FakeConn& c) {
    c.ReadHead();
    c.Send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    c.socket.Close();
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Get("/v2/models/e/infer"));
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "until the end");
  EXPECT_TRUE(r.keep_alive);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["e"]["outcomes"]["success"], 1);
}

constexpr uint64_t kHundredMiB = 100ull << 20;

TEST(HttpProxy, HundredMiBBodiesStreamWithBoundedMemory) {
  std::atomic<uint64_t> received{0};
  FakeUpstream upstream([&](FakeConn& c) {
    for (;;) {
      const std::string head = c.ReadHead(30s);
      if (head.empty()) return;
      if (head.rfind("POST", 0) == 0) {
        const uint64_t n = std::stoull(HeadValue(head, "content-length"));
        if (!c.ReadBody(n)) return;
        received = n;
        c.Send(OkResponse(std::to_string(n)));
      } else {
        c.Send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kHundredMiB) + "\r\n\r\n");
        const std::string block(1 << 16, 'x');
        for (uint64_t sent = 0; sent < kHundredMiB; sent += block.size()) {
          if (!c.Send(block)) return;
        }
      }
    }
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  const pid_t pid = sidecar.process->pid();
  const long baseline = RssKiB(pid);
  long peak = baseline;
  RawClient client(sidecar.http);
  // Upload.
  client.Send("POST /v2/models/big/infer HTTP/1.1\r\nHost: t\r\nContent-Length: " +
              std::to_string(kHundredMiB) + "\r\n\r\n");
  const std::string block(1 << 16, 'y');
  for (uint64_t sent = 0; sent < kHundredMiB; sent += block.size()) {
    ASSERT_TRUE(client.Send(block));
    if (sent % (4 << 20) == 0) peak = std::max(peak, RssKiB(pid));
  }
  RawResponse up = client.Read(false, 30s);
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, std::to_string(kHundredMiB));
  // Download, counted as it arrives rather than parsed whole.
  client.Send(Get("/v2/models/big/infer"));
  ASSERT_TRUE(client.ReadUntil("\r\n\r\n"));
  uint64_t body = client.buffer().size() - (client.buffer().find("\r\n\r\n") + 4);
  char buf[1 << 16];
  uint64_t since_sample = 0;
  while (body < kHundredMiB) {
    ssize_t n = client.socket().Recv(buf, sizeof buf, 30s);
    ASSERT_GT(n, 0);
    body += static_cast<uint64_t>(n);
    since_sample += static_cast<uint64_t>(n);
    if (since_sample > (4 << 20)) {
      peak = std::max(peak, RssKiB(pid));
      since_sample = 0;
    }
  }
  EXPECT_EQ(body, kHundredMiB);
  EXPECT_EQ(received.load(), kHundredMiB);
  // 200 MiB went through; the sidecar's resident memory barely moved.
  EXPECT_LT(peak - baseline, 8 * 1024) << "baseline " << baseline << " KiB, peak " << peak;
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["big"]["outcomes"]["success"], 2);
}

}  // namespace
}  // namespace lagscale::testing
