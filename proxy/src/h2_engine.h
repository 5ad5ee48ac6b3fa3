#pragma once
// Internal to proxy/: the frames engine of GrpcProxy (GrpcProxyOptions::Engine::kFrames).

#include <nghttp2/nghttp2.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/intrusive/list.hpp>

#include "grpc_engine.h"
#include "h2_session.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/grpc_proxy.h"

namespace lagscale::proxy::internal {

// FramesWorker: one I/O thread: its io_context, its ledger shard, and the client connections (with
// their upstream connections) it owns. A connection never changes thread, so its accounting takes
// no lock.
// Thread safety: Adopt(), Drain() and Cancel() post to the worker and may be called from any
// thread; the rest on the worker's thread.
class FramesWorker {
 public:
  FramesWorker(const FramesConfig& config, FramesEnv env);
  ~FramesWorker();

  void Run();
  void Adopt(boost::asio::ip::tcp::socket socket);
  void Drain();
  // Cancels every stream and connection and returns once that is done (REQUIRES: Run() is
  // running on another thread); then stops the loop.
  void CancelAndStop();

  boost::asio::io_context& io() { return io_; }
  const FramesConfig& config() const { return config_; }
  FramesEnv& env() { return env_; }
  void Add(ClientSession& session) { sessions_.push_back(session); }

 private:
  template <typename F>
  void ForEachSession(F f);

  const FramesConfig& config_;
  metrics::TurnClock turn_clock_;
  FramesEnv env_;
  boost::intrusive::list<ClientSession, boost::intrusive::constant_time_size<false>> sessions_;
  // Last: pending handlers own the sessions, which use everything above when they are destroyed.
  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

// FramesEngine: listens on one acceptor and hands each client connection to a worker in turn.
class FramesEngine final : public GrpcEngine {
 public:
  FramesEngine(GrpcProxyOptions options, metrics::Ledger& ledger, size_t first_shard,
               size_t shard_count, metrics::ServerCounters* counters);
  ~FramesEngine() override;

  void Start() override;
  int port() const override { return port_; }
  std::string address() const override;
  void Shutdown(std::chrono::milliseconds drain) override;
  int64_t live() const override { return live_.load(std::memory_order_relaxed); }

 private:
  void Listen();
  void Accept();

  GrpcProxyOptions options_;
  metrics::Ledger& ledger_;
  metrics::ServerCounters* counters_;
  const size_t first_;
  const size_t count_;
  FramesConfig config_;
  std::vector<std::unique_ptr<FramesWorker>> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;  // on workers_[0]'s io_context
  std::unique_ptr<boost::asio::steady_timer> accept_pause_;   // idem
  size_t next_worker_ = 0;
  std::atomic<int64_t> live_{0};
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace lagscale::proxy::internal
