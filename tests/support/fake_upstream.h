#pragma once

// Test support: FakeUpstream, a loopback HTTP/1.1 server whose every accepted connection runs a
// test-chosen behaviour (slow, closing mid-response, chunked, 100-continue...) on a FakeConn.

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "support/loopback.h"
#include "support/raw_socket.h"

namespace lagscale::testing {

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
    listener_ = Socket(ListenOnLoopback(port_, options_.backlog));
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

}  // namespace lagscale::testing
