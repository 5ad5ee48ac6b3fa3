// The request path allocates nothing in steady state: an in-process HttpProxy between a raw
// client and a raw upstream (both allocation-free loops on fixed buffers), with every operator new
// in the process counted over thousands of warmed-up keep-alive requests.
#include "lagscale/proxy/http_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

// The replacements pair malloc with free on purpose; GCC cannot see that through inlining.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

// Every plain form is replaced, so whatever else links into this binary (gRPC uses the nothrow
// forms) pairs its news and deletes consistently.
void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
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

int Listen(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 16);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
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

constexpr std::string_view kRequest =
    "POST /v2/models/m1/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
constexpr std::string_view kUpstreamRequest =
    "POST /v2/models/m1/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(HttpProxyAllocations, SteadyStateRequestsAllocateNothing) {
  uint16_t upstream_port = 0;
  const int listener = Listen(upstream_port);
  std::thread upstream([listener] {
    const int fd = ::accept(listener, nullptr, nullptr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[256];
    while (ReadExactly(fd, buf, kUpstreamRequest.size())) {
      if (::send(fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL) <= 0) break;
    }
    ::close(fd);
  });

  metrics::ModelTable table(16);
  metrics::Ledger ledger(table, 1);
  metrics::ServerCounters counters(1);
  ProxyConfig config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.upstream_host = "127.0.0.1";
  config.upstream_port = upstream_port;
  config.threads = 1;
  HttpProxy proxy(config, ledger, counters);
  proxy.Start();

  const int client = Connect(proxy.port());
  ASSERT_GE(client, 0);
  char buf[256];
  auto round_trip = [&] {
    return ::send(client, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(kRequest.size()) &&
           ReadExactly(client, buf, kResponse.size()) &&
           std::string_view(buf, kResponse.size()) == kResponse;
  };
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(round_trip());  // warm-up: buffers reach size

  const uint64_t before = g_allocations.load();
  constexpr int kRequests = 20000;
  bool all_ok = true;
  for (int i = 0; i < kRequests; ++i) all_ok = all_ok && round_trip();
  const uint64_t allocations = g_allocations.load() - before;
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(allocations, 0u) << "allocations over " << kRequests << " requests";

  ::close(client);
  const auto snap = ledger.Snapshot();
  ASSERT_EQ(snap.models.size(), 1u);
  EXPECT_EQ(snap.models[0].second.arrivals, 2000u + kRequests);
  proxy.Stop();
  ::shutdown(listener, SHUT_RDWR);
  ::close(listener);
  upstream.join();
}

}  // namespace
}  // namespace lagscale::proxy
