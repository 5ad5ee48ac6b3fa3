#pragma once

// IoPool: one io_context per thread, each run by its own thread, so connections spread over the
// threads without sharing a scheduler queue (the Beast "io_context per CPU" layout).
// Thread safety: Next() may be called from any thread; Start/Stop/Join from the owner only.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace lagscale::testserver {

class IoPool {
 public:
  explicit IoPool(int threads);
  ~IoPool();

  boost::asio::io_context& Next();
  void Start();
  void Stop();
  void Join();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace lagscale::testserver
