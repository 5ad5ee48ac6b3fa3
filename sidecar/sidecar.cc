#include "sidecar/sidecar.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

#include "lagscale/base/host_port.h"
#include "lagscale/base/tcp_address.h"

namespace lagscale::sidecar {

Sidecar::Sidecar(SidecarConfig config)
    : config_(std::move(config)),
      table_(config_.max_models),
      ledger_(table_, config_.proxy.threads + kGrpcShards),
      counters_(config_.proxy.threads + kGrpcShards),
      exposition_(ledger_, counters_, {config_.server_name, config_.pod_name}),
      proxy_(config_.proxy, ledger_, counters_) {}

Sidecar::~Sidecar() {
  reporter_.reset();
  grpc_.reset();
  proxy_.Stop();
  if (admin_) admin_->Stop();
}

void Sidecar::Start() {
  proxy_.Start();
  const auto upstream =
      base::ResolveTcp({config_.proxy.upstream_host, config_.proxy.upstream_port}, "--upstream")
          .OrThrow();
  admin_ = std::make_unique<AdminServer>(
      AdminServer::Sources{ledger_, exposition_, [this] { return proxy_.accepting(); }, upstream,
                           config_.proxy.connect_timeout});
  admin_port_ = admin_->Start(config_.admin);
  spdlog::info("proxying {} -> {}:{} with {} I/O threads",
               Printable(config_.proxy.listen_host, http_port()), config_.proxy.upstream_host,
               config_.proxy.upstream_port, config_.proxy.threads);
  StartGrpc();
  StartReporter();
}

// gRPC passthrough: its own completion-queue threads, each writing only its ledger shard.
void Sidecar::StartGrpc() {
  if (config_.grpc_listen.empty()) return;
  grpc_ = std::make_unique<proxy::GrpcProxy>(
      proxy::GrpcProxyOptions{config_.grpc_listen, config_.grpc_upstream,
                              config_.proxy.routing.headers, config_.proxy.connect_timeout,
                              config_.grpc_engine == "frames"
                                  ? proxy::GrpcProxyOptions::Engine::kFrames
                                  : proxy::GrpcProxyOptions::Engine::kCalls,
                              config_.proxy.idle_timeout},
      ledger_, grpc_shard_base(), kGrpcShards, &counters_);
  grpc_->Start();
}

// Report stream: a thread of its own that only ever reads ledger snapshots.
void Sidecar::StartReporter() {
  if (config_.coordinator.empty()) return;
  scaler_client::ReporterOptions options;
  options.coordinator = config_.coordinator;
  options.server_name = config_.server_name;
  options.pod_name = config_.pod_name;
  options.interval = config_.report_interval;
  options.early_threshold = config_.early_report_threshold;
  options.token_file = config_.coordinator_token_file;
  options.ca_file = config_.coordinator_ca;
  options.cert_file = config_.coordinator_cert;
  options.key_file = config_.coordinator_key;
  options.tls_reload_interval = config_.coordinator_tls_reload_interval;
  reporter_ = std::make_unique<scaler_client::Reporter>(std::move(options), ledger_, counters_);
  reporter_->Start();
}

std::optional<std::string> Sidecar::grpc_address() const {
  if (!grpc_) return std::nullopt;
  return grpc_->address();
}

std::string Sidecar::Printable(const std::string& host, uint16_t port) {
  return base::Dialable({host, port}).ToString();
}

std::string Sidecar::ReadyLine() const {
  std::string line =
      "lagscale-sidecar ready http=" + Printable(config_.proxy.listen_host, http_port());
  if (const auto grpc = grpc_address()) line += " grpc=" + *grpc;
  line += " admin=" + Printable(config_.admin.host, admin_port_);
  return line;
}

void Sidecar::Drain() {
  // The gRPC drain runs beside the HTTP one, so both get the same --drain-timeout.
  std::thread grpc_drain;
  if (grpc_) grpc_drain = std::thread([this] { grpc_->Shutdown(config_.drain_timeout); });
  DrainHttp();
  if (admin_) admin_->Stop();
  if (grpc_drain.joinable()) grpc_drain.join();
  if (reporter_) reporter_->Stop();
}

void Sidecar::DrainHttp() {
  proxy_.StopAccepting();  // readiness is proxy_.accepting(): false from here on
  const auto deadline = std::chrono::steady_clock::now() + config_.drain_timeout;
  while (proxy_.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (proxy_.open_connections() > 0) {
    spdlog::warn("drain timeout: closing {} connections", proxy_.open_connections());
  }
  proxy_.Stop();
}

}  // namespace lagscale::sidecar
