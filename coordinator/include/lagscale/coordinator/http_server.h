#pragma once

// HttpServer: the coordinator's small HTTP/1.1 endpoint (/status, /, /metrics, /healthz,
// /readyz) on Boost.Beast, one I/O thread. Requests go to a handler that returns the whole reply.
// Thread safety: the handler runs on the server's thread; Stop() may be called from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace lagscale::coordinator {

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using HttpHandler = std::function<HttpReply(const std::string& method, const std::string& target)>;

// A listen flag's "host:port" or "[v6]:port" (an empty host is 0.0.0.0), parsed by
// base::ParseHostPort. Throws std::invalid_argument naming `flag` and the value.
std::pair<std::string, uint16_t> SplitHostPort(const std::string& address, const std::string& flag);

class HttpServer {
 public:
  // Binds and starts serving. Throws std::runtime_error naming the address.
  HttpServer(const std::string& listen, HttpHandler handler);
  ~HttpServer();
  uint16_t port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lagscale::coordinator
