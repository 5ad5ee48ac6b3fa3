#pragma once

// Asio adaptors for the capacity queue, so a coroutine can write
//   auto [admission, slot] = co_await AsyncAcquire(pool, use_awaitable);
// without holding a thread while it waits in the queue.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "capacity.h"

namespace lagscale::testserver {

// Completes with (Admission, Slot) on the token's associated executor once the pool admits,
// rejects or cancels the request. `on_queued`, if set, is called with the waiter when it had to
// queue (from the initiating thread, before the completion can run), e.g. to cancel it later.
template <typename Token>
auto AsyncAcquire(ModelPool& pool, Token&& token,
                  std::function<void(const std::shared_ptr<Waiter>&)> on_queued = {}) {
  return boost::asio::async_initiate<Token, void(Admission, Slot)>(
      [&pool, on_queued = std::move(on_queued)](auto handler) {
        using Handler = decltype(handler);
        auto waiter = std::make_shared<Waiter>();
        waiter->executor = boost::asio::get_associated_executor(handler);
        // Waiter holds a copyable std::function; the handler itself is move-only.
        auto shared = std::make_shared<Handler>(std::move(handler));
        waiter->on_admit = [shared](Admission admission, Slot slot) {
          (*shared)(admission, std::move(slot));
        };
        if (pool.Acquire(waiter) && on_queued) on_queued(waiter);
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
