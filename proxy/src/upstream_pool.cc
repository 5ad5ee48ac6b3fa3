#include "upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace lagscale::proxy {

namespace {

// The idle watch may not have run yet for a close that already arrived: look at the socket itself
// (one non-blocking peek), so a request is not sent on a connection known to be finished.
bool StillOpen(UpstreamConn& conn) {
  char byte;
  const ssize_t n = ::recv(conn.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::shared_ptr<UpstreamConn> UpstreamPool::Acquire() {
  while (!idle_.empty()) {
    std::shared_ptr<UpstreamConn> conn = std::move(idle_.back());
    idle_.pop_back();
    conn->idle = false;
    ++conn->watch;
    boost::system::error_code ec;
    conn->socket.cancel(ec);  // ends the idle watch; its completion sees the new generation
    if (!ec && conn->socket.is_open() && StillOpen(*conn)) {
      conn->reused = true;
      return conn;
    }
    conn->socket.close(ec);
  }
  return nullptr;
}

void UpstreamPool::Release(std::shared_ptr<UpstreamConn> conn) {
  if (idle_.size() >= max_idle_ || !conn->socket.is_open()) {
    boost::system::error_code ec;
    conn->socket.close(ec);
    return;
  }
  conn->idle = true;
  const uint64_t watch = ++conn->watch;
  UpstreamConn* raw = conn.get();
  raw->socket.async_read_some(
      boost::asio::buffer(&raw->probe, 1),
      OnSlab(slab_, [this, conn, watch](const boost::system::error_code&, size_t) {
        if (conn->watch != watch || !conn->idle) return;  // taken for a request meanwhile
        // An idle upstream connection must stay silent: data or EOF both mean it is done.
        boost::system::error_code ignored;
        conn->socket.close(ignored);
        Forget(conn.get());
      }));
  idle_.push_back(std::move(conn));
}

void UpstreamPool::Forget(UpstreamConn* conn) {
  auto it =
      std::find_if(idle_.begin(), idle_.end(), [&](const auto& c) { return c.get() == conn; });
  if (it == idle_.end()) return;
  conn->idle = false;
  std::swap(*it, idle_.back());
  idle_.pop_back();
}

void UpstreamPool::CloseAll() {
  for (auto& conn : idle_) {
    conn->idle = false;
    ++conn->watch;
    boost::system::error_code ec;
    conn->socket.close(ec);
  }
  idle_.clear();
}

}  // namespace lagscale::proxy
