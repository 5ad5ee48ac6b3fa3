#pragma once

// Listener: a listening TCP socket and the one I/O thread that serves it, the part the
// coordinator's HTTP and HTTPS servers share. Each accepted connection is handed to `on_accept`
// on that thread, which spawns its session there. The thread is named after the flag ("http",
// "webhook").
// Thread safety: Start() once, from the owning thread; port() and Stop() from any thread.

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

// The reply to a request Beast could not parse (`ec` from http::async_read): 413, 431 or 400 with
// a JSON reason; nullopt when the peer just went away or timed out.
std::optional<HttpReply> ParseErrorReply(const boost::system::error_code& ec);

class Listener {
 public:
  using OnAccept = std::function<void(boost::asio::ip::tcp::socket)>;

  // Binds `listen` (HOST:PORT, "[v6]:PORT"; an empty host is every IPv4 interface). Throws
  // std::invalid_argument for a malformed value and std::runtime_error when it cannot bind, both
  // naming `flag` and the value.
  Listener(const std::string& listen, const std::string& flag);
  ~Listener();

  // REQUIRES: called once. Accepts on the I/O thread until Stop().
  void Start(OnAccept on_accept);
  boost::asio::io_context& io_context() { return ioc_; }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // Stops the I/O thread; sessions still open are dropped. Idempotent.
  void Stop();

 private:
  boost::asio::awaitable<void> AcceptLoop();

  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  OnAccept on_accept_;
  std::string thread_name_;  // the flag without "--" and "-listen": "http", "webhook"
  std::thread thread_;
};

}  // namespace lagscale::coordinator
