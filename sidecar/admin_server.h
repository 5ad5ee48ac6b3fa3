#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include <boost/asio.hpp>

#include "lagscale/metrics/exposition.h"
#include "lagscale/metrics/ledger.h"
#include "sidecar/config.h"

namespace lagscale::sidecar {

// AdminServer: the sidecar's admin HTTP endpoint (Boost.Beast, on a thread of its own, off the
// request path):
//   GET /healthz  200 while the process runs
//   GET /readyz   200 while the proxy accepts and the upstream takes a TCP connection, else 503
//   GET /stats    the ledger snapshot as JSON (metrics::StatsJson)
//   GET /metrics  Prometheus exposition (metrics::Exposition::Render, honouring Accept)
// Thread safety: Start() once, Stop() from any thread; handlers read only thread-safe sources.
class AdminServer {
 public:
  struct Sources {
    const metrics::Ledger& ledger;
    const metrics::Exposition& exposition;
    std::function<bool()> accepting;  // called on the admin thread
    boost::asio::ip::tcp::endpoint upstream;
    std::chrono::milliseconds probe_timeout;
  };

  explicit AdminServer(Sources sources);
  ~AdminServer();

  // Binds `address` and starts serving; returns the bound port. Throws std::runtime_error naming
  // the address when it cannot bind.
  uint16_t Start(const HostPort& address);
  void Stop();

 private:
  void Accept();

  Sources sources_;
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  boost::asio::steady_timer accept_pause_{io_};
  std::thread thread_;
};

}  // namespace lagscale::sidecar
