#include "upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace lagscale::proxy {

namespace {

constexpr auto kSweepInterval = std::chrono::seconds(1);

// Whether an idle connection can carry a request: nothing to read, no EOF, no error (one
// non-blocking peek).
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
    if (conn->socket.is_open() && StillOpen(*conn)) {
      conn->reused = true;
      return conn;
    }
    boost::system::error_code ec;
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
  idle_.push_back(std::move(conn));
  if (!sweep_armed_) ArmSweep();
}

void UpstreamPool::ArmSweep() {
  sweep_armed_ = true;
  sweep_.expires_after(kSweepInterval);
  sweep_.async_wait(OnSlab(slab_, [this](const boost::system::error_code& ec) {
    sweep_armed_ = false;
    if (!ec) Sweep();
  }));
}

// An idle upstream connection must stay silent: data or EOF both mean it is done.
void UpstreamPool::Sweep() {
  auto done = std::remove_if(idle_.begin(), idle_.end(), [](const auto& conn) {
    if (StillOpen(*conn)) return false;
    boost::system::error_code ignored;
    conn->socket.close(ignored);
    return true;
  });
  idle_.erase(done, idle_.end());
  if (!idle_.empty()) ArmSweep();
}

void UpstreamPool::CloseAll() {
  for (auto& conn : idle_) {
    boost::system::error_code ec;
    conn->socket.close(ec);
  }
  idle_.clear();
  sweep_.cancel();
}

}  // namespace lagscale::proxy
