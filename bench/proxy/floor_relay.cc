// lagscale-floor-relay: the floor under any HTTP/1.1 proxy's CPU per request on this machine, for
// bench/proxy/run.sh. It does no HTTP at all: each client connection is paired with its own
// upstream connection at accept, and every readable socket's bytes are written to its pair, one
// read and one write per message, on a level-triggered epoll loop that never re-arms a
// descriptor and never reads a socket epoll did not report. A proxy must at least move the same
// bytes through the same kernel, so what this spends per request is a bound no proxy that parses,
// routes or counts can go below; the benchmark prints it next to nginx and haproxy.
//
// Not a proxy to deploy: no parsing, no timeouts, no limits. A write that does not take the whole
// message (the peer stopped reading) closes the pair, which wrk reports as a socket error.
//
//   lagscale-floor-relay --upstream-port 8080    # prints "port N" once listening on 127.0.0.1:N
// Thread safety: one thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kMaxEvents = 256;

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "lagscale-floor-relay: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

class Relay {
 public:
  explicit Relay(uint16_t upstream_port) : upstream_port_(upstream_port) {}

  uint16_t Listen() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (listener_ < 0) Die("socket");
    const int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = Loopback(0);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) Die("bind");
    if (listen(listener_, 4096) != 0) Die("listen");
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    epoll_ = epoll_create1(0);
    if (epoll_ < 0) Die("epoll_create1");
    Watch(listener_);
    return ntohs(address.sin_port);
  }

  [[noreturn]] void Run() {
    std::array<epoll_event, kMaxEvents> events{};
    for (;;) {
      const int n = epoll_wait(epoll_, events.data(), kMaxEvents, -1);
      if (n < 0 && errno != EINTR) Die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listener_) {
          Accept();
        } else {
          Forward(fd);
        }
      }
    }
  }

 private:
  void Watch(int fd) {
    epoll_event event{};
    event.events = EPOLLIN;  // level-triggered: armed once, never modified
    event.data.fd = fd;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) Die("epoll_ctl");
  }

  void Accept() {
    for (;;) {
      const int client = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK);
      if (client < 0) return;  // EAGAIN: all taken; anything else: the next one may work
      // The upstream connection is opened blocking (it is loopback and ready at once), then made
      // non-blocking like the client's.
      const int upstream = socket(AF_INET, SOCK_STREAM, 0);
      const sockaddr_in address = Loopback(upstream_port_);
      if (upstream < 0 ||
          connect(upstream, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        std::fprintf(stderr, "lagscale-floor-relay: upstream: %s\n", std::strerror(errno));
        close(client);
        if (upstream >= 0) close(upstream);
        continue;
      }
      fcntl(upstream, F_SETFL, fcntl(upstream, F_GETFL) | O_NONBLOCK);
      const int one = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Pair(client, upstream);
      Watch(client);
      Watch(upstream);
    }
  }

  void Pair(int a, int b) {
    const size_t need = static_cast<size_t>(std::max(a, b)) + 1;
    if (peer_.size() < need) peer_.resize(need, -1);
    peer_[a] = b;
    peer_[b] = a;
  }

  void Forward(int fd) {
    const int peer = peer_[fd];
    if (peer < 0) return;  // closed earlier in this batch of events
    const ssize_t n = read(fd, buffer_.data(), buffer_.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0 || send(peer, buffer_.data(), n, MSG_NOSIGNAL) != n) {
      ClosePair(fd, peer);
    }
  }

  void ClosePair(int a, int b) {
    peer_[a] = peer_[b] = -1;
    close(a);  // closing removes each from the epoll set
    close(b);
  }

  const uint16_t upstream_port_;
  int listener_ = -1;
  int epoll_ = -1;
  std::vector<int> peer_;             // fd -> its pair's fd, -1 when none
  std::array<char, 65536> buffer_{};  // one message at a time: the loop never holds bytes
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--upstream-port") {
    std::fprintf(stderr, "usage: %s --upstream-port N\n", argv[0]);
    return 2;
  }
  const long port = std::strtol(argv[2], nullptr, 10);
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "lagscale-floor-relay: --upstream-port %s is not a port\n", argv[2]);
    return 2;
  }
  Relay relay(static_cast<uint16_t>(port));
  std::printf("port %u\n", relay.Listen());
  std::fflush(stdout);
  relay.Run();
}
