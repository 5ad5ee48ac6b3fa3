// The request path allocates nothing in steady state: an in-process HttpProxy between a raw
// client and a raw upstream (both allocation-free loops on fixed buffers), with every operator new
// on the proxy's I/O thread and on the client's thread counted over thousands of warmed-up
// keep-alive requests. Other threads are not counted: when the whole binary runs in one process
// (CI's TSan step), threads that earlier tests' gRPC servers and channels leave behind allocate on
// their own schedule (10,358 counted over 20,000 requests in one such run).
#include "lagscale/proxy/http_proxy.h"

#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "support/loopback.h"

// The replacements pair malloc with free on purpose; GCC cannot see that through inlining.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<uint64_t> g_allocations{0};
std::atomic<pthread_t> g_client_thread{};

// True on the threads whose allocations count: HttpProxy's I/O threads (named "http-io-N") and
// the thread that runs the client loop. Only a positive answer is kept: an I/O thread allocates
// its own name before it has it.
bool Counted() {
  thread_local bool counted = false;
  if (!counted) {
    char name[16] = {};
    ::prctl(PR_GET_NAME, name);
    counted = std::strncmp(name, "http-io-", 8) == 0 ||
              pthread_equal(pthread_self(), g_client_thread.load(std::memory_order_relaxed));
  }
  return counted;
}
}  // namespace

// Every plain form is replaced, so whatever else links into this binary (gRPC uses the nothrow
// forms) pairs its news and deletes consistently.
void* operator new(size_t n) {
  if (Counted()) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  if (Counted()) g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace lagscale::proxy {
namespace {

int Connect(uint16_t port) {
  const int fd = testing::ConnectToLoopback(port);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads until `buf` ends with the `size`-byte message; fixed requests and responses make the
// framing trivial.
bool ReadExactly(int fd, char* buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::recv(fd, buf + got, size - got, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// One exchange the allocation test repeats: what the client sends, what the upstream must receive
// (the same bytes), the upstream's answer and the model it is counted under.
struct Exchange {
  std::string_view request;
  std::string_view response;
  std::string_view model;
  uint64_t prompt_tokens = 0;      // per request
  uint64_t completion_tokens = 0;  // per request
  bool first_output_counted = false;
};

constexpr Exchange kV2Infer = {
    "POST /v2/models/m1/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "m1"};

// An OpenAI chat request whose model is last in the body, answered by a server-sent-events stream
// with a usage event: the body scanner, the answer scanner and the token counters all run.
constexpr Exchange kOpenAiStream = {
    "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 61\r\n\r\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":\"llama\"}",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "1d\r\ndata: {\"choices\":[{\"t\":1}]}\n\n\r\n"
    "3b\r\ndata: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\r\n"
    "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n",
    "llama", 3, 1, true};

constexpr int kWarmUpRequests = 2000;  // enough for every buffer to reach its final size
constexpr int kCountedRequests = 20000;

// A raw upstream on a thread of its own: accepts one connection and answers every `x.request` it
// reads with `x.response`, from fixed buffers, until the proxy closes the connection.
// REQUIRES: the proxy has closed its upstream connection (Stop()) before destruction.
class RawUpstream {
 public:
  explicit RawUpstream(const Exchange& x)
      : listener_(testing::ListenOnLoopback(port_)), thread_([this, x] { Serve(x); }) {}
  ~RawUpstream() {
    ::shutdown(listener_, SHUT_RDWR);  // in case the proxy never connected
    ::close(listener_);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  void Serve(const Exchange& x) {
    const int fd = ::accept(listener_, nullptr, nullptr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[512];
    while (ReadExactly(fd, buf, x.request.size())) {
      if (::send(fd, x.response.data(), x.response.size(), MSG_NOSIGNAL) <= 0) break;
    }
    ::close(fd);
  }

  uint16_t port_ = 0;
  const int listener_;
  std::thread thread_;
};

ProxyConfig LoopbackConfig(uint16_t upstream_port) {
  ProxyConfig config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.upstream_host = "127.0.0.1";
  config.upstream_port = upstream_port;
  config.threads = 1;
  return config;
}

// Sends `x.request` and reads back exactly `x.response`, `n` times on one keep-alive connection;
// false if any round trip failed. Allocation-free: the buffer is on the stack.
bool RoundTrips(int client, const Exchange& x, int n) {
  char buf[512];
  bool all_ok = true;
  for (int i = 0; i < n && all_ok; ++i) {
    all_ok = ::send(client, x.request.data(), x.request.size(), MSG_NOSIGNAL) ==
                 static_cast<ssize_t>(x.request.size()) &&
             ReadExactly(client, buf, x.response.size()) &&
             std::string_view(buf, x.response.size()) == x.response;
  }
  return all_ok;
}

// The proxy ends the last request just after its final write: waits for that, briefly.
metrics::LedgerSnapshot SettledSnapshot(const metrics::Ledger& ledger) {
  auto snap = ledger.Snapshot();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!snap.models.empty() && snap.models[0].second.inflight() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    snap = ledger.Snapshot();
  }
  return snap;
}

// Every request, warm-up and counted, was recorded once, with its tokens and first output.
void ExpectEveryRequestCounted(const metrics::LedgerSnapshot& snap, const Exchange& x) {
  constexpr uint64_t kAll = kWarmUpRequests + kCountedRequests;
  ASSERT_EQ(snap.models.size(), 1u);
  EXPECT_EQ(snap.models[0].first, x.model);
  const metrics::ModelStats& s = snap.models[0].second;
  EXPECT_EQ(s.arrivals, kAll);
  EXPECT_EQ(s.completions(), kAll);
  EXPECT_EQ(s.prompt_tokens, x.prompt_tokens * kAll);
  EXPECT_EQ(s.completion_tokens, x.completion_tokens * kAll);
  EXPECT_EQ(s.ttfb_count(), x.first_output_counted ? kAll : 0u);
}

void ExpectNoAllocations(const Exchange& x) {
  g_client_thread.store(pthread_self());
  const uint64_t at_start = g_allocations.load();
  RawUpstream upstream(x);
  metrics::ModelTable table(16);
  metrics::Ledger ledger(table, 1);
  metrics::ServerCounters counters(1);
  HttpProxy proxy(LoopbackConfig(upstream.port()), ledger, counters);
  proxy.Start();
  const int client = Connect(proxy.port());
  ASSERT_GE(client, 0);
  ASSERT_TRUE(RoundTrips(client, x, kWarmUpRequests));
  // Setting up and warming up does allocate: proof that the counter sees these threads.
  ASSERT_GT(g_allocations.load(), at_start);

  const uint64_t before = g_allocations.load();
  const bool all_ok = RoundTrips(client, x, kCountedRequests);
  const uint64_t allocations = g_allocations.load() - before;
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(allocations, 0u) << "allocations over " << kCountedRequests << " requests";

  ::close(client);
  ExpectEveryRequestCounted(SettledSnapshot(ledger), x);
  proxy.Stop();
}

TEST(HttpProxyAllocations, SteadyStateRequestsAllocateNothing) { ExpectNoAllocations(kV2Infer); }

TEST(HttpProxyAllocations, OpenAiStreamsWithBodyModelAndUsageAllocateNothing) {
  ExpectNoAllocations(kOpenAiStream);
}

}  // namespace
}  // namespace lagscale::proxy
