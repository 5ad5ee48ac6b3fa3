#include "connection_watch.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

namespace lagscale::testserver {

namespace net = boost::asio;
using net::ip::tcp;

PeerState PeekPeer(tcp::socket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return PeerState::kData;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    return PeerState::kNothing;
  }
  return PeerState::kHungUp;
}

ConnectionWatch::ConnectionWatch(tcp::socket& socket)
    : socket_(socket), state_(std::make_shared<State>()) {
  // The client may have gone before the watch starts: its edge-triggered wakeup is then spent.
  switch (PeekPeer(socket_)) {
    case PeerState::kHungUp:
      state_->hung_up = true;
      break;
    case PeerState::kNothing:
      Arm(socket_, state_);
      break;
    case PeerState::kData:
      break;
  }
}

ConnectionWatch::~ConnectionWatch() {
  state_->active = false;
  if (!state_->hung_up) {
    boost::system::error_code ignored;
    socket_.cancel(ignored);  // ends the pending wait; nothing else is pending between steps
  }
}

// With edge-triggered epoll a wakeup can be a stale edge of the request's own bytes: an empty
// peek re-arms the wait instead of ending it.
void ConnectionWatch::Arm(tcp::socket& socket, std::shared_ptr<State> state) {
  socket.async_wait(tcp::socket::wait_read,
                    [&socket, state](const boost::system::error_code& ec) mutable {
                      if (ec || !state->active) return;
                      switch (PeekPeer(socket)) {
                        case PeerState::kHungUp:
                          state->hung_up = true;
                          if (state->timer != nullptr) state->timer->cancel();
                          break;
                        case PeerState::kNothing:
                          Arm(socket, std::move(state));
                          break;
                        case PeerState::kData:
                          break;
                      }
                    });
}

net::awaitable<bool> ConnectionWatch::SleepUntil(std::chrono::steady_clock::time_point deadline) {
  if (state_->hung_up) co_return false;
  if (deadline <= std::chrono::steady_clock::now()) co_return true;
  net::steady_timer timer(co_await net::this_coro::executor, deadline);
  state_->timer = &timer;
  boost::system::error_code ec;
  co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  state_->timer = nullptr;
  co_return !state_->hung_up;
}

}  // namespace lagscale::testserver
