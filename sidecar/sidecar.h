#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "lagscale/metrics/exposition.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/model_table.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/grpc_proxy.h"
#include "lagscale/proxy/http_proxy.h"
#include "lagscale/scaler_client/reporter.h"
#include "sidecar/admin_server.h"
#include "sidecar/config.h"

namespace lagscale::sidecar {

// Sidecar: the parts of one lagscale-sidecar process, wired, and their order of start and drain.
// It owns the HTTP/1.1 proxy, the admin server, the gRPC passthrough (when --grpc-listen is set)
// and the report stream to the coordinator (when --coordinator is set); main() only parses the
// flags, waits for a signal and calls Drain().
//
// Shard layout of the ledger and the server counters (both have threads + kGrpcShards shards):
//   [0, threads)         the HTTP/1.1 I/O threads, shard i for thread i
//   threads, threads + 1 the gRPC passthrough (grpc_shard_base())
// Thread safety: construct, Start() and Drain() from one controlling thread; the accessors hand
// out objects whose own contracts say how they may be shared.
class Sidecar {
 public:
  explicit Sidecar(SidecarConfig config);
  ~Sidecar();  // stops whatever Drain() has not

  const SidecarConfig& config() const { return config_; }
  metrics::ModelTable& models() { return table_; }
  metrics::Ledger& ledger() { return ledger_; }
  metrics::ServerCounters& server_counters() { return counters_; }
  // Ledger and counter shards reserved for the gRPC passthrough's completion-queue threads:
  // [grpc_shard_base(), grpc_shard_base() + kGrpcShards).
  static constexpr size_t kGrpcShards = 2;
  size_t grpc_shard_base() const { return config_.proxy.threads; }

  // Starts serving, in this order: the HTTP listener, the admin port, the gRPC passthrough, then
  // the report stream (so the first report already sees every listener). Throws
  // std::runtime_error naming the setting when an address or a file cannot be used.
  void Start();
  uint16_t http_port() const { return proxy_.port(); }
  uint16_t admin_port() const { return admin_port_; }
  // "host:port" of the gRPC passthrough; nullopt when it does not run. REQUIRES: Start().
  std::optional<std::string> grpc_address() const;
  // The ready line, with real ports. REQUIRES: Start() returned.
  std::string ReadyLine() const;
  // "host:port" to print for a bound listen host, e.g. 0.0.0.0 -> 127.0.0.1.
  static std::string Printable(const std::string& host, uint16_t port);

  // Graceful drain, in this order:
  //  1. /readyz turns 503 at once; the HTTP listener closes and idle connections close; the gRPC
  //     passthrough stops taking calls (both at the same time).
  //  2. In-flight HTTP requests and gRPC calls get up to --drain-timeout to finish; the rest are
  //     cut (and end in the ledger as client_abort).
  //  3. Once the HTTP side is done, the admin server stops; then the gRPC drain is awaited.
  //  4. The report stream stops last: the coordinator hears from the pod through the whole drain.
  void Drain();

 private:
  void StartGrpc();
  void StartReporter();
  void DrainHttp();

  SidecarConfig config_;
  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  metrics::ServerCounters counters_;
  metrics::Exposition exposition_;
  proxy::HttpProxy proxy_;
  std::unique_ptr<AdminServer> admin_;
  uint16_t admin_port_ = 0;
  std::unique_ptr<proxy::GrpcProxy> grpc_;             // null without --grpc-listen
  std::unique_ptr<scaler_client::Reporter> reporter_;  // null without --coordinator
};

}  // namespace lagscale::sidecar
