// lagscale-sidecar: a reverse proxy in front of one inference server that counts per-model lag.
// main() only parses the configuration and wires the parts; each part lives in its library.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

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

    // --- gRPC passthrough -------------------------------------------------------------------
    // When config->grpc_listen is not empty, start the gRPC passthrough here with
    // sidecar.ledger().shard(sidecar.grpc_shard_base() + k) and
    // sidecar.server_counters().shard(sidecar.grpc_shard_base() + k), k in {0, 1}, and set
    // grpc_address to the real "host:port" it bound.

    // --- report stream ----------------------------------------------------------------------
    // When config->coordinator is not empty, start the scaler client here: it reads
    // sidecar.ledger().Snapshot() (and sidecar.server_counters()) from its own thread.

    std::printf("%s\n", sidecar.ReadyLine(grpc_address).c_str());
    std::fflush(stdout);
    sidecar.WaitForTermination();
    // Stop the report stream and the gRPC passthrough's listener here, before the drain ends.
    sidecar.Drain();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
