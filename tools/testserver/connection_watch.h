#pragma once

// ConnectionWatch: notices that the client hung up while an answer is still being produced (a
// long LLM answer, streamed or not), so the request stops at once and its slot goes to the next
// one instead of being held until the last token.
// Thread safety: not thread-safe; create, use and destroy it on the connection's I/O thread, the
// thread that runs the socket's handlers.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace lagscale::testserver {

// What a non-blocking peek at a connection shows.
enum class PeerState {
  kNothing,  // no bytes and no end: the client is waiting
  kData,     // bytes to read (a pipelined request)
  kHungUp,   // end of stream or an error: the client is gone
};
PeerState PeekPeer(boost::asio::ip::tcp::socket& socket);

class ConnectionWatch {
 public:
  // Starts watching `socket`, which must outlive the watch. A pipelined request ends the watch
  // (its bytes are left for the session to read); from then on only write errors tell.
  explicit ConnectionWatch(boost::asio::ip::tcp::socket& socket);
  ~ConnectionWatch();
  ConnectionWatch(const ConnectionWatch&) = delete;
  ConnectionWatch& operator=(const ConnectionWatch&) = delete;

  // Waits until `deadline`; returns false at once, or as soon as, the client hangs up.
  boost::asio::awaitable<bool> SleepUntil(std::chrono::steady_clock::time_point deadline);
  bool hung_up() const { return state_->hung_up; }

 private:
  // Shared with the pending wait's handler, which may run after the watch is gone.
  struct State {
    bool active = true;
    bool hung_up = false;
    boost::asio::steady_timer* timer = nullptr;  // the sleep in progress, if any
  };
  static void Arm(boost::asio::ip::tcp::socket& socket, std::shared_ptr<State> state);

  boost::asio::ip::tcp::socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace lagscale::testserver
