#pragma once

// Asio adaptors for the capacity queue, so a coroutine can write
//   auto [admission, slot] = co_await AsyncAcquire(pool, use_awaitable);
// without holding a thread while it waits in the queue.

#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "capacity.h"

namespace lagscale::testserver {

// Completes with (Admission, Slot) on the token's associated executor once the pool admits,
// rejects or cancels the request.
template <typename Token>
auto AsyncAcquire(ModelPool& pool, Token&& token) {
  return boost::asio::async_initiate<Token, void(Admission, Slot)>(
      [&pool](auto handler) {
        using Handler = decltype(handler);
        auto waiter = std::make_shared<Waiter>();
        waiter->executor = boost::asio::get_associated_executor(handler);
        // Waiter holds a copyable std::function; the handler itself is move-only.
        auto shared = std::make_shared<Handler>(std::move(handler));
        waiter->on_admit = [shared](Admission admission, Slot slot) {
          (*shared)(admission, std::move(slot));
        };
        pool.Acquire(std::move(waiter));
      },
      token);
}

// Waits `ms` milliseconds on the coroutine's executor; returns at once for 0.
inline boost::asio::awaitable<void> SleepMs(int ms) {
  if (ms <= 0) co_return;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                  std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
}

}  // namespace lagscale::testserver
