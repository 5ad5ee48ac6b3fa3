#include "sidecar/sidecar.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>
#include <thread>

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
}

std::string Sidecar::Printable(const std::string& host, uint16_t port) {
  return base::Dialable({host, port}).ToString();
}

std::string Sidecar::ReadyLine(const std::optional<std::string>& grpc) const {
  std::string line =
      "lagscale-sidecar ready http=" + Printable(config_.proxy.listen_host, http_port());
  if (grpc) line += " grpc=" + *grpc;
  line += " admin=" + Printable(config_.admin.host, admin_port_);
  return line;
}

void Sidecar::WaitForTermination() {
  signals_.async_wait([](const boost::system::error_code&, int signal) {
    spdlog::info("signal {}: draining", signal);
  });
  signal_io_.run();
}

void Sidecar::Drain() {
  proxy_.StopAccepting();  // readiness is proxy_.accepting(): false from here on
  const auto deadline = std::chrono::steady_clock::now() + config_.drain_timeout;
  while (proxy_.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (proxy_.open_connections() > 0) {
    spdlog::warn("drain timeout: closing {} connections", proxy_.open_connections());
  }
  proxy_.Stop();
  if (admin_) admin_->Stop();
}

}  // namespace lagscale::sidecar
