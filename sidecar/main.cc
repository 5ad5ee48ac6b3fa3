// lagscale-sidecar: a reverse proxy in front of one inference server that counts per-model lag.
// main() only parses the configuration and wires the parts; each part lives in its library.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "lagscale/proxy/grpc_proxy.h"
#include "lagscale/scaler_client/reporter.h"
#include "sidecar/config.h"
#include "sidecar/sidecar.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<lagscale::sidecar::SidecarConfig> config =
      lagscale::sidecar::ParseFlags(argc, argv, exit_code);
  if (!config) return exit_code;
  spdlog::set_default_logger(spdlog::stderr_color_mt("lagscale-sidecar"));

  try {
    lagscale::sidecar::Sidecar sidecar(*config);
    sidecar.Start();
    std::optional<std::string> grpc_address;

    // gRPC passthrough: its own completion-queue threads, each writing only its ledger shard.
    std::unique_ptr<lagscale::proxy::GrpcProxy> grpc;
    if (!config->grpc_listen.empty()) {
      grpc = std::make_unique<lagscale::proxy::GrpcProxy>(
          lagscale::proxy::GrpcProxyOptions{config->grpc_listen, config->grpc_upstream,
                                            config->proxy.routing.headers,
                                            config->proxy.connect_timeout},
          sidecar.ledger(), sidecar.grpc_shard_base(), lagscale::sidecar::Sidecar::kGrpcShards,
          &sidecar.server_counters());
      grpc->Start();
      grpc_address = grpc->address();
    }

    // Report stream: a thread of its own that only ever reads ledger snapshots.
    std::unique_ptr<lagscale::scaler_client::Reporter> reporter;
    if (!config->coordinator.empty()) {
      lagscale::scaler_client::ReporterOptions options;
      options.coordinator = config->coordinator;
      options.server_name = config->server_name;
      options.pod_name = config->pod_name;
      options.interval = config->report_interval;
      options.early_threshold = config->early_report_threshold;
      options.token_file = config->coordinator_token_file;
      options.ca_file = config->coordinator_ca;
      options.cert_file = config->coordinator_cert;
      options.key_file = config->coordinator_key;
      options.tls_reload_interval = config->coordinator_tls_reload_interval;
      reporter = std::make_unique<lagscale::scaler_client::Reporter>(
          std::move(options), sidecar.ledger(), sidecar.server_counters());
      reporter->Start();
    }

    std::printf("%s\n", sidecar.ReadyLine(grpc_address).c_str());
    std::fflush(stdout);
    sidecar.WaitForTermination();
    // Stop taking gRPC calls and let those in progress finish within the drain timeout, in step
    // with the HTTP drain; the last report goes out after both, so the coordinator sees the end.
    std::thread grpc_drain;
    if (grpc) grpc_drain = std::thread([&] { grpc->Shutdown(config->drain_timeout); });
    sidecar.Drain();
    if (grpc_drain.joinable()) grpc_drain.join();
    if (reporter) reporter->Stop();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
