// The HTTP/1.1 request path under the conditions a new pod and a busy node produce: a burst of
// connections against an upstream with a tiny listen backlog, kept-alive connections the upstream
// closed, clients that stop reading, trailers, an upstream killed and restarted under load, and a
// process out of file descriptors. Real processes on loopback; after each scenario /stats must
// account for every request exactly, with the outcomes the clients themselves saw.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_peers.h"
#include "support/metrics_text.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

std::string Post(const std::string& model, const std::string& body = "{}") {
  return "POST /v2/models/" + model +
         "/infer HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// A keep-alive server: answers every request on the connection with a short 200.
void AnswerAll(FakeConn& c) {
  for (;;) {
    const std::string head = c.ReadHead();
    if (head.empty()) return;
    const std::string length = HeadValue(head, "content-length");
    if (!length.empty() && !c.ReadBody(std::stoull(length))) return;
    if (!c.Send(OkResponse("ok"))) return;
  }
}

TEST(HttpHardening, ColdBurstAgainstABacklogOfOneGetsNo502) {
  // Backlog 1, and a server that spawns a thread per connection before it accepts the next: a
  // burst overflows the accept queue, whose SYNs and handshake ACKs the kernel then drops (it
  // resends a SYN after 1 s, data after 200 ms doubling, all in lockstep).
  FakeUpstream upstream(AnswerAll, {.backlog = 1});
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  constexpr int kClients = 50;
  std::latch ready(kClients);
  std::mutex mu;
  std::map<int, int> statuses;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      RawClient client(sidecar.http);
      ready.arrive_and_wait();  // all connected: the requests leave together
      client.Send(Post("burst"));
      const int status = client.Read(false, std::chrono::seconds(60)).status;
      std::lock_guard lock(mu);
      ++statuses[status];
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(statuses[200], kClients) << "statuses other than 200: " << statuses.size() - 1;
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(ModelValue(stats, "burst", "arrivals"), kClients);
  EXPECT_EQ(stats["models"]["burst"]["outcomes"]["success"], kClients);
  EXPECT_EQ(Outcome(stats, "upstream_error"), 0u);
}

// A kept-alive upstream connection that the upstream closes after reading the next request,
// without answering: the race a keep-alive timeout produces.
struct ClosingAfterOneUpstream {
  FakeUpstream server{[](FakeConn& c) {
    const std::string head = c.ReadHead();
    if (head.empty()) return;
    const std::string length = HeadValue(head, "content-length");
    if (!length.empty()) c.ReadBody(std::stoull(length));
    c.Send(OkResponse("first"));
    const std::string next = c.ReadHead();  // read, then closed unanswered
    if (!next.empty()) c.socket.Close();
    // A fresh connection gets here again and answers its first request.
  }};
};

TEST(HttpHardening, IdempotentRequestIsSentAgainWhenAKeptAliveConnectionDies) {
  ClosingAfterOneUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address(), {"--threads", "1"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  const std::string get = "GET /v2/models/g/ready HTTP/1.1\r\nHost: t\r\n\r\n";
  client.Send(get);
  EXPECT_EQ(client.Read().body, "first");
  client.Send(get);  // goes on the kept-alive connection, which dies unanswered
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "first");  // answered by a fresh connection
  EXPECT_EQ(upstream.server.accepted(), 2);
  EXPECT_EQ(ScrapeValue(sidecar.admin, "lagscale_upstream_request_retries_total"), 1);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["g"]["outcomes"]["success"], 2);
}

TEST(HttpHardening, PostTheUpstreamMayHaveReadIsNotSentTwice) {
  ClosingAfterOneUpstream upstream;
  SidecarProcess sidecar = StartSidecar(upstream.server.address(), {"--threads", "1"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(Post("p"));
  EXPECT_EQ(client.Read().body, "first");
  client.Send(Post("p"));
  RawResponse r = client.Read();
  EXPECT_EQ(r.status, 502);  // the upstream read it and may have acted on it
  EXPECT_EQ(upstream.server.accepted(), 1);
  EXPECT_EQ(ScrapeValue(sidecar.admin, "lagscale_upstream_request_retries_total"), 0);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["p"]["outcomes"]["success"], 1);
  EXPECT_EQ(stats["models"]["p"]["outcomes"]["upstream_error"], 1);
}

TEST(HttpHardening, ClientThatStopsReadingIsCutOffAndTheUpstreamClosed) {
  std::atomic<bool> upstream_closed{false};
  FakeUpstream upstream([&](FakeConn& c) {
    if (c.ReadHead().empty()) return;
    // An endless response: only the proxy closing the connection ends it.
    c.Send("HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n");
    const std::string block(64 * 1024, 'x');
    while (c.Send(block)) {
    }
    upstream_closed = true;
  });
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--client-write-timeout", "500ms"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  int small = 4096;
  setsockopt(client.socket().fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  client.Send(Post("stalled"));
  // The client never reads; the upstream is freed long before --upstream-timeout (300 s).
  EXPECT_TRUE(Eventually([&] { return upstream_closed.load(); }, std::chrono::seconds(20)));
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["stalled"]["outcomes"]["client_abort"], 1);
  EXPECT_EQ(ScrapeValue(sidecar.admin, "lagscale_client_write_timeouts_total"), 1);
}

TEST(HttpHardening, TrailersPassInBothDirections) {
  std::mutex mu;
  std::string request_tail;  // what the upstream got after the request head
  FakeUpstream upstream([&](FakeConn& c) {
    if (c.ReadHead().empty()) return;
    std::string tail;
    while (tail.find("\r\n0\r\n") == std::string::npos ||
           tail.find("\r\n\r\n", tail.find("\r\n0\r\n")) == std::string::npos) {
      if (c.pending.empty()) {
        char buf[4096];
        const ssize_t n = c.socket.Recv(buf, sizeof buf);
        if (n <= 0) return;
        c.pending.append(buf, static_cast<size_t>(n));
      }
      tail += c.pending;
      c.pending.clear();
    }
    {
      std::lock_guard lock(mu);
      request_tail = tail;
    }
    c.Send(
        "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n0\r\nX-Checksum: abc123\r\n\r\n");
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  client.Send(
      "POST /v2/models/t/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2;note=x\r\nhi\r\n0\r\nX-Request-Digest: d1\r\n\r\n");
  ASSERT_TRUE(client.ReadUntil("\r\n0\r\n"));
  ASSERT_TRUE(client.ReadUntil("X-Checksum: abc123\r\n\r\n")) << client.buffer();
  EXPECT_NE(client.buffer().find("Trailer: X-Checksum\r\n"), std::string::npos);
  EXPECT_NE(client.buffer().find("5\r\nhello\r\n0\r\n"), std::string::npos) << client.buffer();
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(request_tail, "2\r\nhi\r\n0\r\nX-Request-Digest: d1\r\n\r\n");  // no extension
  }
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["t"]["outcomes"]["success"], 1);
}

// lagscale-testserver as a real upstream process that can be killed and started again on the
// same port (which a RefusingPort holds in between).
struct TestServerProcess {
  std::unique_ptr<ChildProcess> process;
  std::string http;
};
TestServerProcess StartTestServer(const std::string& listen) {
  std::map<std::string, std::string> addresses;
  TestServerProcess s;
  s.process = StartReady("lagscale-testserver",
                         {"--http", listen, "--grpc", "", "--service-time-ms", "20", "--threads",
                          "1", "--log-level", "off"},
                         addresses);
  s.http = addresses["http"];
  return s;
}

TEST(HttpHardening, UpstreamKilledUnderLoadFailsFastAndServiceResumes) {
  TestServerProcess server = StartTestServer("127.0.0.1:0");
  ASSERT_TRUE(server.process);
  SidecarProcess sidecar = StartSidecar(server.http);
  ASSERT_TRUE(sidecar.ok());
  const std::string body =
      R"({"id":"r","inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})";
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, sent_while_down{0}, failed_while_down{0};
  std::atomic<bool> down{false};
  std::atomic<int64_t> slowest_down_ms{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      while (!stop) {
        RawClient client(sidecar.http);
        while (!stop) {
          const bool was_down = down;
          const auto start = std::chrono::steady_clock::now();
          if (!client.Send(Post("k", body))) break;
          RawResponse r = client.Read(false, std::chrono::seconds(30));
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
          if (r.status == 200) {
            ++ok;
          } else {
            ++failed;  // 502, or a response cut off: both upstream_error to the sidecar
          }
          if (was_down && down) {
            ++sent_while_down;
            if (r.status != 200) ++failed_while_down;
            int64_t seen = slowest_down_ms;
            while (ms > seen && !slowest_down_ms.compare_exchange_weak(seen, ms)) {
            }
          }
          if (r.status != 200 || !r.keep_alive) break;  // a new connection after an error
        }
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return ok >= 50; }, std::chrono::seconds(20)));
  server.process->Signal(SIGKILL);  // requests in flight now end as upstream_error
  ASSERT_TRUE(server.process->Wait().has_value());
  {
    // Held until the new server has bound it: a parallel test's bind to port 0 cannot take it.
    RefusingPort held(server.http);
    down = true;  // from here until the restart, nothing can answer
    ASSERT_TRUE(Eventually([&] { return sent_while_down >= 30; }, std::chrono::seconds(20)));
    down = false;
    server = StartTestServer(held.address());
  }
  ASSERT_TRUE(server.process);
  const int ok_before = ok;
  EXPECT_TRUE(Eventually([&] { return ok >= ok_before + 50; }, std::chrono::seconds(20)));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed_while_down, sent_while_down.load());
  // While the upstream is down a request is refused at once: no long retry loop.
  EXPECT_LT(slowest_down_ms, 1500);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(ModelValue(stats, "k", "arrivals"), ok + failed);
  EXPECT_EQ(stats["models"]["k"]["outcomes"]["success"], ok.load());
  EXPECT_EQ(stats["models"]["k"]["outcomes"]["upstream_error"], failed.load());
  EXPECT_GE(failed, 30);
}

TEST(HttpHardening, OutOfDescriptorsRefusesNewConnectionsAndKeepsExistingOnes) {
  FakeUpstream upstream(AnswerAll);
  // One I/O thread: every connection meets the same acceptor and the same upstream pool.
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--threads", "1"});
  ASSERT_TRUE(sidecar.ok());
  const pid_t pid = sidecar.process->pid();
  // Existing clients, each with its upstream connection kept alive in the pool.
  std::vector<std::unique_ptr<RawClient>> existing;
  for (int i = 0; i < 4; ++i) {
    existing.push_back(std::make_unique<RawClient>(sidecar.http));
    existing.back()->Send(Post("fd"));
    ASSERT_EQ(existing.back()->Read().status, 200);
  }
  ASSERT_TRUE(SetFdLimit(pid, LowestFreeFd(pid)));  // not one descriptor more
  // New connections are closed at once rather than left hanging (or spinning the acceptor).
  std::vector<std::unique_ptr<RawClient>> refused;
  for (int i = 0; i < 20; ++i) refused.push_back(std::make_unique<RawClient>(sidecar.http));
  for (auto& c : refused) {
    c->Send(Post("fd"));
    EXPECT_TRUE(c->socket().WaitClosed(std::chrono::seconds(10)));
  }
  // Existing connections keep working meanwhile.
  for (auto& c : existing) {
    c->Send(Post("fd"));
    EXPECT_EQ(c->Read().status, 200);
  }
  ASSERT_TRUE(SetFdLimit(pid, 1024));
  refused.clear();
  RawClient after(sidecar.http);
  after.Send(Post("fd"));
  EXPECT_EQ(after.Read().status, 200);
  const double accept_errors = ScrapeValue(sidecar.admin, "lagscale_accept_errors_total");
  EXPECT_GE(accept_errors, 1);
  EXPECT_LT(accept_errors, 200);  // paused between attempts, not a busy loop
  EXPECT_GE(ScrapeValue(sidecar.admin, "lagscale_connections_shed_total"), 20);
  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["fd"]["outcomes"]["success"], 9);
  EXPECT_EQ(ModelValue(stats, "fd", "arrivals"), 9);
}

// The admin port (probes, /metrics) out of descriptors: its listener must wait, not spin a core,
// and answer the queued probe once descriptors are free. The measure is a rate, so it takes a
// fixed second: a spinning thread passes 0.3 s of CPU in well under it.
TEST(HttpHardening, AdminPortOutOfDescriptorsWaitsInsteadOfSpinning) {
  FakeUpstream upstream(AnswerAll);
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--threads", "1"});
  ASSERT_TRUE(sidecar.ok());
  const pid_t pid = sidecar.process->pid();
  ASSERT_TRUE(SetFdLimit(pid, LowestFreeFd(pid)));  // not one descriptor more
  RawClient probe(sidecar.admin);
  probe.Send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
  // The thread names itself once it runs, which can be just after the ready line.
  double cpu_start = -1;
  ASSERT_TRUE(Eventually([&] { return (cpu_start = ThreadCpuSeconds(pid, "admin")) >= 0; }));
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  double cpu = 0;
  while (std::chrono::steady_clock::now() < end && cpu < 0.3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cpu = ThreadCpuSeconds(pid, "admin") - cpu_start;
  }
  EXPECT_LT(cpu, 0.3) << "the admin thread spins while out of descriptors";
  ASSERT_TRUE(SetFdLimit(pid, 1024));
  EXPECT_EQ(probe.Read().status, 200);
}

}  // namespace
}  // namespace lagscale::testing
