#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

#include <boost/asio.hpp>
#include <boost/intrusive/list.hpp>

#include "buffer_pool.h"
#include "handler_slab.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/config.h"
#include "upstream_pool.h"

namespace lagscale::proxy {

// What a worker needs of its client connections: to tell them to drain. The hook unlinks itself
// when the connection is destroyed.
class Drainable : public boost::intrusive::list_base_hook<
                      boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual void OnDrain() = 0;

 protected:
  ~Drainable() = default;
};

// Worker: one I/O thread's world: its io_context, its SO_REUSEPORT acceptor, its upstream pool, its
// ledger and counter shards, and the client connections it owns. Nothing here is shared with
// another worker, so the request path takes no lock.
// Thread safety: Run() on the worker's own thread; StopAccepting()/Stop() post to it and may be
// called from any thread; open_connections() may be read from any thread.
class Worker {
 public:
  Worker(size_t index, const ProxyConfig& config, boost::asio::ip::tcp::endpoint upstream,
         metrics::Ledger& ledger, metrics::ServerCounters& counters);
  ~Worker();

  // Binds the acceptor (SO_REUSEPORT, so every worker binds the same port); throws
  // boost::system::system_error on failure. Returns the bound port.
  uint16_t Bind(const boost::asio::ip::tcp::endpoint& endpoint);
  // Runs the event loop until Stop().
  void Run();
  // Stops accepting and closes idle connections; busy ones close after their response.
  void StopAccepting();
  // Ends the event loop; open connections are dropped.
  void Stop();
  size_t open_connections() const { return open_.load(std::memory_order_relaxed); }

  // For connections, on this worker's thread.
  boost::asio::io_context& io() { return io_; }
  const ProxyConfig& config() const { return config_; }
  const boost::asio::ip::tcp::endpoint& upstream() const { return upstream_; }
  UpstreamPool& pool() { return pool_; }
  HandlerSlab& slab() { return slab_; }
  BufferPool& buffers() { return buffers_; }
  metrics::ModelTable& table() { return table_; }
  metrics::LedgerShard& ledger() { return ledger_; }
  // The ledger clock, read once per handler run (see Run()): Begin()/End() take their time here.
  // Only Run() starts turns: a caller that drives io() itself (the fuzz harness) keeps one
  // reading, which leaves the counts exact and the durations zero.
  int64_t LedgerNowNs() { return turn_clock_.NowNs(); }
  metrics::ServerShardCounters& counters() { return counters_; }
  bool draining() const { return draining_; }
  void OnConnectionClosed();

 private:
  void Accept();
  void OnAcceptError(const boost::system::error_code& ec);
  void ShedPendingConnections();

  const ProxyConfig config_;
  HandlerSlab slab_;  // before io_: pending handlers are freed when io_ is destroyed
  BufferPool buffers_;  // before io_ too: connections that pending handlers hold return theirs
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  // Accepting pauses for a moment after running out of descriptors (no busy accept loop).
  boost::asio::steady_timer accept_pause_{io_};
  // A descriptor held back for out-of-descriptor moments: closing it lets a waiting connection be
  // accepted and closed at once, so its client is refused instead of left hanging.
  int reserve_fd_ = -1;
  boost::asio::ip::tcp::endpoint upstream_;
  UpstreamPool pool_;
  metrics::ModelTable& table_;
  metrics::LedgerShard& ledger_;
  metrics::TurnClock turn_clock_;
  metrics::ServerShardCounters& counters_;
  boost::intrusive::list<Drainable, boost::intrusive::constant_time_size<false>> connections_;
  std::atomic<size_t> open_{0};
  bool draining_ = false;
};

}  // namespace lagscale::proxy
