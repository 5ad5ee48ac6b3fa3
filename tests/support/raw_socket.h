#pragma once

// Test support: a raw HTTP/1.1 client that sends exactly the bytes a test gives and parses the
// responses with Beast, on POSIX sockets whose blocking calls are bounded by a timeout, so a broken
// proxy fails a test instead of hanging it; and header lookup in a raw head.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lagscale/base/host_port.h"

namespace lagscale::testing {

using namespace std::chrono_literals;

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
    const base::HostPort address = base::ParseHostPort(host_port).OrThrow();
    sockaddr_in addr{};  // IPv4 literals only: every server under test listens on 127.0.0.1
    addr.sin_family = AF_INET;
    addr.sin_port = htons(address.port);
    inet_pton(AF_INET, address.host.c_str(), &addr.sin_addr);
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

}  // namespace lagscale::testing
