#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "handler_slab.h"

namespace lagscale::proxy {

// One connection to the inference server. Shared between the pool and the async operations that
// may still be queued on it, so a stale completion never touches freed memory.
struct UpstreamConn {
  explicit UpstreamConn(boost::asio::io_context& io) : socket(io) {}
  boost::asio::ip::tcp::socket socket;
  bool reused = false;            // it carried an earlier request
  int64_t acked_at_connect = -1;  // TcpBytesAcked() once connected (-1: unknown)
};

// UpstreamPool: the idle keep-alive connections of one I/O thread (LIFO, so the warmest socket is
// reused first). Acquire() looks at a connection (one non-blocking peek) before handing it out,
// so a request is not sent on one the upstream has closed (keep-alive timeout) or written to.
// Idle connections are not watched one by one: a pending read on each would cost a failed read
// per request (Asio tries the socket before waiting). Instead a sweep, once a second while any
// connection is idle, closes the finished ones, so they do not linger in CLOSE_WAIT.
// Thread safety: none; used only on its I/O thread.
class UpstreamPool {
 public:
  UpstreamPool(boost::asio::io_context& io, HandlerSlab& slab, size_t max_idle)
      : io_(io), slab_(slab), max_idle_(max_idle), sweep_(io) {}
  ~UpstreamPool() { CloseAll(); }

  // An idle connection, or null if there is none.
  std::shared_ptr<UpstreamConn> Acquire();
  // A new, unconnected socket on this thread.
  std::shared_ptr<UpstreamConn> Create() { return std::make_shared<UpstreamConn>(io_); }
  // Keeps `conn` for reuse (or closes it when the pool is full).
  void Release(std::shared_ptr<UpstreamConn> conn);
  void CloseAll();
  size_t idle() const { return idle_.size(); }

 private:
  void ArmSweep();
  void Sweep();

  boost::asio::io_context& io_;
  HandlerSlab& slab_;
  const size_t max_idle_;
  std::vector<std::shared_ptr<UpstreamConn>> idle_;
  boost::asio::steady_timer sweep_;
  bool sweep_armed_ = false;
};

}  // namespace lagscale::proxy
