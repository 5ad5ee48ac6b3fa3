#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio.hpp>

#include "lagscale/metrics/exposition.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/model_table.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/http_proxy.h"
#include "sidecar/admin_server.h"
#include "sidecar/config.h"

namespace lagscale::sidecar {

// Sidecar: the parts of one lagscale-sidecar process, wired, and their order of start and drain.
//
// Shard layout of the ledger and the server counters (both have threads + kGrpcShards shards):
//   [0, threads)         the HTTP/1.1 I/O threads, shard i for thread i
//   threads, threads + 1 the gRPC passthrough (grpc_shard_base())
// Thread safety: construct, Start(), WaitForTermination() and Drain() from the main thread; the
// accessors hand out objects whose own contracts say how they may be shared.
class Sidecar {
 public:
  explicit Sidecar(SidecarConfig config);
  ~Sidecar();

  const SidecarConfig& config() const { return config_; }
  metrics::ModelTable& models() { return table_; }
  metrics::Ledger& ledger() { return ledger_; }
  metrics::ServerCounters& server_counters() { return counters_; }
  // Ledger and counter shards reserved for the gRPC passthrough's completion-queue threads:
  // [grpc_shard_base(), grpc_shard_base() + kGrpcShards).
  static constexpr size_t kGrpcShards = 2;
  size_t grpc_shard_base() const { return config_.proxy.threads; }

  // Binds the HTTP listener and the admin port and starts serving. Throws std::runtime_error
  // naming the setting when an address cannot be used.
  void Start();
  uint16_t http_port() const { return proxy_.port(); }
  uint16_t admin_port() const { return admin_port_; }
  // The ready line, with real ports; `grpc` ("host:port") only when the gRPC passthrough runs.
  std::string ReadyLine(const std::optional<std::string>& grpc = std::nullopt) const;
  // "host:port" to print for a bound listen host, e.g. 0.0.0.0 -> 127.0.0.1.
  static std::string Printable(const std::string& host, uint16_t port);

  // Blocks until SIGTERM or SIGINT (handlers are installed by the constructor).
  void WaitForTermination();
  // Graceful drain: /readyz turns 503 at once, the listener closes, idle connections close,
  // in-flight requests get up to --drain-timeout to finish; then everything stops.
  void Drain();

 private:
  SidecarConfig config_;
  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  metrics::ServerCounters counters_;
  metrics::Exposition exposition_;
  proxy::HttpProxy proxy_;
  std::unique_ptr<AdminServer> admin_;
  uint16_t admin_port_ = 0;
  boost::asio::io_context signal_io_{1};
  boost::asio::signal_set signals_{signal_io_, SIGTERM, SIGINT};
};

}  // namespace lagscale::sidecar
