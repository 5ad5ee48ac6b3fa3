#pragma once

// HttpServer: the REST and admin listener. Accepts on one thread and hands each connection to the
// next I/O thread, where one coroutine reads requests (keep-alive) and answers them in turn.
// Thread safety: construct, Start and Stop from one thread; the connections run on the IoPool.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/ip/tcp.hpp>

#include "capacity.h"
#include "io_pool.h"

namespace lagscale::testserver {

class HttpServer {
 public:
  // Binds and listens; throws boost::system::system_error when the address cannot be bound.
  HttpServer(IoPool& pool, Capacity& capacity, const boost::asio::ip::tcp::endpoint& endpoint);

  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void Start();
  void Stop();

 private:
  IoPool& pool_;
  Capacity& capacity_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace lagscale::testserver
