#pragma once

// Test support for the HTTP/1.1 proxy tests: a raw client (exact bytes in and out), a fake
// upstream whose every connection runs a test-chosen behaviour (slow, closing mid-response,
// chunked, 100-continue...), a real nginx upstream, and the /stats invariants checked after every
// scenario. POSIX sockets with timeouts, so a broken proxy fails a test instead of hanging it.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/process.h"

namespace lagscale::testing {

// A connected TCP socket with blocking calls bounded by a timeout.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    Close();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Socket() { Close(); }

  static Socket Connect(const std::string& host_port) {
    const size_t colon = host_port.rfind(':');
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
    inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return Socket();
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return Socket(fd);
  }

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Up to `max` bytes within `timeout`: >0 bytes, 0 on EOF, -1 on error or timeout.
  ssize_t Recv(char* buf, size_t max, std::chrono::milliseconds timeout = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -1;
    return ::recv(fd_, buf, max, 0);
  }
  // True if the peer closes (EOF or reset) within `timeout`, discarding any bytes before it.
  bool WaitClosed(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      ssize_t n = Recv(buf, sizeof buf, left);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  void Close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  // For unblocking a thread stuck in Recv/accept on this socket.
  void Shutdown() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  int fd_ = -1;
};

struct RawResponse {
  int status = 0;  // 0: no complete response (closed, timed out or garbled)
  std::string body;
  boost::beast::http::fields headers;
  bool keep_alive = false;
};

// An HTTP/1.1 client that sends exactly the bytes a test gives and parses responses with Beast.
class RawClient {
 public:
  explicit RawClient(const std::string& host_port) : socket_(Socket::Connect(host_port)) {}
  bool ok() const { return socket_.ok(); }
  Socket& socket() { return socket_; }
  bool Send(std::string_view bytes) { return socket_.Send(bytes); }

  // Reads one response (a HEAD response has no body even if it announces one).
  RawResponse Read(bool head = false, std::chrono::milliseconds timeout = 10s) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 31);
    if (head) parser.skip(true);
    boost::beast::error_code ec;
    RawResponse r;
    for (;;) {
      if (!buffer_.empty()) {
        size_t used = parser.put(boost::asio::buffer(buffer_), ec);
        if (ec == http::error::need_more) ec = {};
        if (ec) return r;
        buffer_.erase(0, used);
        if (parser.is_done()) break;
        if (used > 0) continue;
      }
      char buf[65536];
      ssize_t n = socket_.Recv(buf, sizeof buf, timeout);
      if (n == 0) {
        parser.put_eof(ec);
        if (!ec && parser.is_done()) break;
        return r;
      }
      if (n < 0) return r;
      buffer_.append(buf, static_cast<size_t>(n));
    }
    auto& msg = parser.get();
    r.status = msg.result_int();
    r.body = msg.body();
    r.keep_alive = msg.keep_alive();
    for (const auto& f : msg) r.headers.insert(f.name_string(), f.value());
    return r;
  }
  // Bytes already received but not yet parsed (e.g. raw chunks a test looks at itself).
  std::string& buffer() { return buffer_; }
  // Reads until `needle` shows up in the received bytes.
  bool ReadUntil(std::string_view needle, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      char buf[65536];
      ssize_t n = left.count() > 0 ? socket_.Recv(buf, sizeof buf, left) : -1;
      if (n <= 0) return false;
      buffer_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

 private:
  Socket socket_;
  std::string buffer_;
};

// One connection accepted by FakeUpstream.
class FakeConn {
 public:
  explicit FakeConn(Socket s) : socket(std::move(s)) {}
  // Reads through the end of a request head; returns it ("" on EOF).
  std::string ReadHead(std::chrono::milliseconds timeout = 10s) {
    for (;;) {
      size_t end = pending.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = pending.substr(0, end + 4);
        pending.erase(0, end + 4);
        return head;
      }
      if (!Fill(timeout)) return {};
    }
  }
  // Reads `n` body bytes; appends them to `into` unless it is null. False on EOF.
  bool ReadBody(uint64_t n, std::string* into = nullptr) {
    while (n > 0) {
      if (pending.empty() && !Fill(10s)) return false;
      size_t take = std::min<uint64_t>(n, pending.size());
      if (into) into->append(pending, 0, take);
      pending.erase(0, take);
      n -= take;
    }
    return true;
  }
  // Reads a chunked body through its last chunk and trailer section; returns the decoded bytes.
  std::optional<std::string> ReadChunked() {
    std::string body;
    for (;;) {
      size_t eol;
      while ((eol = pending.find("\r\n")) == std::string::npos) {
        if (!Fill(10s)) return std::nullopt;
      }
      const uint64_t size = std::stoull(pending.substr(0, eol), nullptr, 16);
      pending.erase(0, eol + 2);
      if (size == 0) {
        while (pending.find("\r\n") != 0) {  // trailers, then the final CRLF
          size_t e = pending.find("\r\n");
          if (e == std::string::npos) {
            if (!Fill(10s)) return std::nullopt;
            continue;
          }
          pending.erase(0, e + 2);
        }
        pending.erase(0, 2);
        return body;
      }
      if (!ReadBody(size, &body) || !ReadBody(2)) return std::nullopt;
    }
  }
  bool Send(std::string_view bytes) { return socket.Send(bytes); }
  // True once the proxy closes its side.
  bool WaitClosed(std::chrono::milliseconds timeout = 10s) {
    if (!pending.empty()) pending.clear();
    return socket.WaitClosed(timeout);
  }

  Socket socket;
  std::string pending;

 private:
  bool Fill(std::chrono::milliseconds timeout) {
    char buf[65536];
    ssize_t n = socket.Recv(buf, sizeof buf, timeout);
    if (n <= 0) return false;
    pending.append(buf, static_cast<size_t>(n));
    return true;
  }
};

// The value of header `name` in a raw head ("" if absent); names compare case-insensitively.
inline std::string HeadValue(const std::string& head, std::string_view name) {
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    size_t colon = head.find(':', pos);
    if (colon == std::string::npos) break;
    std::string field = head.substr(pos, colon - pos);
    if (field.size() == name.size() &&
        std::equal(field.begin(), field.end(), name.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      size_t end = head.find("\r\n", colon);
      std::string v = head.substr(colon + 1, end - colon - 1);
      v.erase(0, v.find_first_not_of(' '));
      return v;
    }
  }
  return {};
}

inline std::string OkResponse(std::string_view body, std::string_view extra = {}) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

// FakeUpstream: a loopback HTTP/1.1 server where every accepted connection runs `behaviour` on a
// thread of its own. The destructor shuts every socket down and joins.
// An upstream behaviour for the soaks: each request carries its fate in `X-Fate`, so the outcome
// the sidecar records is never a race. "reset": RST before any response byte (the sidecar answers
// 502); "abort": wait for the client to leave (the sidecar must drop the connection); else 200.
inline void FatedUpstream(FakeConn& c) {
  for (;;) {
    const std::string head = c.ReadHead(120s);
    if (head.empty()) return;
    const std::string fate = HeadValue(head, "x-fate");
    if (fate == "reset") {
      linger hard{1, 0};
      setsockopt(c.socket.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      c.socket.Close();
      return;
    }
    if (fate == "abort") {
      c.WaitClosed(60s);
      return;
    }
    if (!c.Send(OkResponse("ok"))) return;
  }
}

class FakeUpstream {
 public:
  using Behaviour = std::function<void(FakeConn&)>;
  struct Options {
    int backlog = 512;  // listen(2) backlog: 1 makes a burst of connects overflow the queue
  };

  explicit FakeUpstream(Behaviour behaviour) : FakeUpstream(std::move(behaviour), Options{}) {}
  FakeUpstream(Behaviour behaviour, Options options)
      : behaviour_(std::move(behaviour)), options_(options) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd, options_.backlog);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listener_ = Socket(fd);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeUpstream() {
    stopping_ = true;
    listener_.Shutdown();
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (auto& w : workers_) w.conn->socket.Shutdown();
    for (auto& w : workers_) w.thread.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++accepted_;
      std::lock_guard lock(mu_);
      Reap();
      Worker& w = workers_.emplace_back();
      w.conn = std::make_shared<FakeConn>(Socket(fd));
      w.done = std::make_shared<std::atomic<bool>>(false);
      w.thread = std::thread([this, conn = w.conn, done = w.done] {
        behaviour_(*conn);
        done->store(true);
      });
    }
  }
  // Joins the connections whose behaviour has returned and closes their sockets, so a long run
  // (the soaks open tens of thousands of connections) holds only the live ones.
  // REQUIRES: mu_ held.
  void Reap() {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (!it->done->load()) {
        ++it;
        continue;
      }
      it->thread.join();
      it = workers_.erase(it);
    }
  }

  Behaviour behaviour_;
  Options options_;
  Socket listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  struct Worker {
    std::shared_ptr<FakeConn> conn;
    std::shared_ptr<std::atomic<bool>> done;
    std::thread thread;
  };
  std::mutex mu_;
  std::list<Worker> workers_;  // guarded by mu_
};

// A real nginx on a free loopback port with `server_block` as its only server's locations.
class Nginx {
 public:
  explicit Nginx(const std::string& locations) {
    dir_ = std::filesystem::temp_directory_path() /
           ("lagscale-nginx-" + std::to_string(::getpid()) + "-" + std::to_string(++counter()));
    std::filesystem::create_directories(dir_);
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = FreeLoopbackPort();
      const std::string conf = (dir_ / "nginx.conf").string();
      std::ofstream(conf) << "worker_processes 1;\ndaemon off;\nerror_log " << (dir_ / "error.log")
                          << ";\npid " << (dir_ / "nginx.pid") << ";\n"
                          << "events { worker_connections 1024; }\nhttp {\n access_log off;\n"
                          << " client_body_temp_path " << dir_ / "b" << ";\n proxy_temp_path "
                          << dir_ / "p" << ";\n fastcgi_temp_path " << dir_ / "f"
                          << ";\n uwsgi_temp_path " << dir_ / "u" << ";\n scgi_temp_path "
                          << dir_ / "s" << ";\n keepalive_requests 100000;\n"
                          << " server {\n  listen 127.0.0.1:" << port_ << ";\n"
                          << locations << "\n }\n}\n";
      auto child = ChildProcess::Start({"/usr/sbin/nginx", "-c", conf, "-p", dir_.string()});
      if (!child) break;
      const bool up = Eventually(
          [&] { return !child->running() || Socket::Connect(address()).ok(); }, 10s);
      if (up && child->running()) process_ = std::move(child);  // else: port taken, retry
    }
    EXPECT_NE(process_, nullptr) << "nginx did not start";
  }
  ~Nginx() {
    if (process_) {
      process_->Signal(SIGQUIT);
      process_->Wait(5s);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return process_ != nullptr; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// The sidecar's /stats as JSON ({} if it cannot be read).
inline nlohmann::json Stats(const std::string& admin) {
  HttpResponse r = HttpGet(admin, "/stats");
  if (r.status != 200) return nlohmann::json::object();
  return nlohmann::json::parse(r.body, nullptr, false);
}

// Sums one counter over every model and the unattributed/overflow buckets.
inline uint64_t StatsTotal(const nlohmann::json& s, const std::string& key) {
  uint64_t total = 0;
  auto add = [&](const nlohmann::json& m) {
    if (key.rfind("outcomes.", 0) == 0) {
      total += m["outcomes"].value(key.substr(9), uint64_t{0});
    } else {
      total += m.value(key, uint64_t{0});
    }
  };
  if (s.contains("models")) {
    for (const auto& [name, m] : s["models"].items()) add(m);
  }
  if (s.contains("unattributed")) add(s["unattributed"]);
  if (s.contains("overflow")) add(s["overflow"]);
  return total;
}

// Waits until nothing is in flight and arrivals == completions (the sidecar may still be
// finishing a request the client already gave up on), then returns the snapshot.
inline nlohmann::json SettledStats(const std::string& admin) {
  nlohmann::json s;
  Eventually(
      [&] {
        s = Stats(admin);
        return !s.empty() && StatsTotal(s, "inflight") == 0 &&
               StatsTotal(s, "arrivals") == StatsTotal(s, "completions");
      },
      10s);
  EXPECT_EQ(StatsTotal(s, "inflight"), 0u) << s.dump();
  EXPECT_EQ(StatsTotal(s, "arrivals"), StatsTotal(s, "completions")) << s.dump();
  return s;
}

// A running lagscale-sidecar in front of `upstream`, with its real addresses.
struct SidecarProcess {
  std::unique_ptr<ChildProcess> process;
  std::string http, admin;
  bool ok() const { return process != nullptr; }
};
inline SidecarProcess StartSidecar(const std::string& upstream,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--upstream", upstream, "--admin",
                                   "127.0.0.1:0", "--grpc-listen", "", "--threads", "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> addresses;
  SidecarProcess s;
  s.process = StartReady("lagscale-sidecar", args, addresses);
  s.http = addresses["http"];
  s.admin = addresses["admin"];
  return s;
}

// One model's counter in a /stats snapshot; 0 while the model has not been seen.
inline int64_t ModelValue(const nlohmann::json& stats, const std::string& model,
                          const std::string& key) {
  if (!stats.contains("models") || !stats["models"].contains(model)) return 0;
  return stats["models"][model].value(key, int64_t{0});
}

inline uint64_t Outcome(const nlohmann::json& stats, const std::string& outcome) {
  return StatsTotal(stats, "outcomes." + outcome);
}

}  // namespace lagscale::testing
