// Framing the sidecar must keep whatever the headers ask: a Connection header that names
// Content-Length (request smuggling through a kept-alive upstream connection shared by clients),
// the same on a response, an Upgrade the sidecar does not take, and CONNECT. Real sidecar process
// on loopback; the upstream records exactly the requests it was sent.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "support/http_peers.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

// A keep-alive upstream that records the request line of every request it reads (framed by the
// Content-Length it was sent, as any server frames it) and answers with that line as the body.
struct RecordingUpstream {
  std::mutex mu;
  std::vector<std::string> lines;
  FakeUpstream server{[this](FakeConn& c) {
    for (;;) {
      const std::string head = c.ReadHead();
      if (head.empty()) return;
      const std::string line = head.substr(0, head.find("\r\n"));
      {
        std::lock_guard lock(mu);
        lines.push_back(line);
      }
      const std::string length = HeadValue(head, "content-length");
      if (!length.empty() && !c.ReadBody(std::stoull(length))) return;
      if (!c.Send(OkResponse(line))) return;
    }
  }};
  std::vector<std::string> Lines() {
    std::lock_guard lock(mu);
    return lines;
  }
};

TEST(HttpFraming, ConnectionNamingContentLengthSmugglesNothing) {
  RecordingUpstream upstream;
  // One I/O thread: both clients' requests go over the same kept-alive upstream connection.
  SidecarProcess sidecar = StartSidecar(upstream.server.address(), {"--threads", "1"});
  ASSERT_TRUE(sidecar.ok());
  const std::string smuggled = "GET /v2/models/smuggled/ready HTTP/1.1\r\nX-Swallow: ";
  RawClient attacker(sidecar.http);
  attacker.Send(
      "POST /v2/models/a/infer HTTP/1.1\r\nHost: t\r\nConnection: content-length\r\n"
      "Content-Length: " +
      std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  RawResponse first = attacker.Read();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "POST /v2/models/a/infer HTTP/1.1");

  RawClient victim(sidecar.http);
  victim.Send("GET /v2/models/victim/ready HTTP/1.1\r\nHost: t\r\n\r\n");
  RawResponse second = victim.Read();
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "GET /v2/models/victim/ready HTTP/1.1");  // its own answer
  EXPECT_EQ(upstream.Lines(), (std::vector<std::string>{"POST /v2/models/a/infer HTTP/1.1",
                                                        "GET /v2/models/victim/ready HTTP/1.1"}));
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["a"]["outcomes"]["success"], 1);
  EXPECT_EQ(stats["models"]["victim"]["outcomes"]["success"], 1);
  EXPECT_FALSE(stats["models"].contains("smuggled"));
}

TEST(HttpFraming, ResponseKeepsItsLengthWhenConnectionNamesIt) {
  FakeUpstream upstream([](FakeConn& c) {
    for (int i = 0; !c.ReadHead().empty(); ++i) {
      const bool ok = i == 0 ? c.Send(
                                   "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\n"
                                   "Content-Length: 5\r\n\r\nfirst")
                             : c.Send(OkResponse("second"));
      if (!ok) return;
    }
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(
      "GET /v2/models/m/ready HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /v2/models/m/ready HTTP/1.1\r\nHost: t\r\n\r\n");
  RawResponse one = client.Read(false, 5s);
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body, "first");
  EXPECT_EQ(one.headers[boost::beast::http::field::content_length], "5");
  RawResponse two = client.Read(false, 5s);
  EXPECT_EQ(two.status, 200);
  EXPECT_EQ(two.body, "second");
  EXPECT_EQ(SettledStats(sidecar.admin)["models"]["m"]["outcomes"]["success"], 2);
}

// curl --http2 on a plain http:// URL asks for h2c like this: the sidecar answers in HTTP/1.1 and
// the connection goes on in HTTP/1.1.
TEST(HttpFraming, UpgradeIsNotTakenAndTheConnectionStaysHttp11) {
  RecordingUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(
      "GET /v2/models/m/ready HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings"
      "\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n");
  RawResponse one = client.Read();
  EXPECT_EQ(one.status, 200);
  client.Send("GET /v2/models/m/ready HTTP/1.1\r\nHost: t\r\n\r\n");
  RawResponse two = client.Read();
  EXPECT_EQ(two.status, 200);
  EXPECT_TRUE(two.keep_alive);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["m"]["outcomes"]["success"], 2);
  EXPECT_EQ(Outcome(stats, "client_error"), 0u);
}

TEST(HttpFraming, ConnectIsRefusedAndNeverForwarded) {
  RecordingUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send("CONNECT internal:443 HTTP/1.1\r\nHost: internal:443\r\n\r\n");
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(client.socket().WaitClosed(5s));
  EXPECT_TRUE(upstream.Lines().empty());
  EXPECT_EQ(Outcome(SettledStats(sidecar.admin), "success"), 0u);
}

}  // namespace
}  // namespace lagscale::testing
