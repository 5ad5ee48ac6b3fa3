#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/config.h"

namespace lagscale::proxy {

class Worker;

// HttpProxy: the HTTP/1.1 reverse proxy. config.threads I/O threads, each with its own
// io_context, SO_REUSEPORT acceptor on the same port, upstream keep-alive pool and client
// connections; thread i writes ledger.shard(i) and counters.shard(i) and nothing else shared.
//
// Thread safety: Start() once, then accepting(), StopAccepting(), open_connections() and
// Stop() from any thread. The ledger and counters must outlive the proxy.
class HttpProxy {
 public:
  // REQUIRES: ledger.shard_count() and counters.shard_count() >= config.threads >= 1.
  HttpProxy(const ProxyConfig& config, metrics::Ledger& ledger, metrics::ServerCounters& counters);
  ~HttpProxy();
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  // Resolves the upstream, binds the listen address and starts the I/O threads. Throws
  // std::runtime_error naming the address when it cannot bind or resolve (start-up only).
  void Start();
  // The bound listen port (the real one when the config asked for port 0).
  uint16_t port() const { return port_; }

  bool accepting() const { return accepting_.load(std::memory_order_relaxed); }
  // Graceful drain, first step: stop accepting, close idle connections; busy ones close after
  // their response ("Connection: close").
  void StopAccepting();
  // Client connections still open, over all threads.
  size_t open_connections() const;
  // Ends the I/O threads (dropping whatever is still open) and joins them. Idempotent.
  void Stop();

 private:
  ProxyConfig config_;
  metrics::Ledger& ledger_;
  metrics::ServerCounters& counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> accepting_{false};
};

}  // namespace lagscale::proxy
