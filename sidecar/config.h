#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "lagscale/base/host_port.h"
#include "lagscale/proxy/config.h"

namespace lagscale::sidecar {

// Addresses are base's: "host:port" with bracketed IPv6, parsed and printed in one place.
using base::HostPort;
using base::ParseHostPort;

// SidecarConfig: every setting of lagscale-sidecar, from flags or their LAGSCALE_* environment
// variables (contracts: flag --foo-bar <-> LAGSCALE_FOO_BAR). A plain value.
struct SidecarConfig {
  proxy::ProxyConfig proxy;  // --listen --upstream --threads --model-header, limits, timeouts
  HostPort admin{"0.0.0.0", 9090};
  size_t max_models = 1000;
  std::string server_name;  // the `server` label on every series
  std::string pod_name;     // the `pod` label; --pod-name, else POD_NAME, else the hostname
  std::chrono::milliseconds drain_timeout{30'000};
  std::string log_level = "info";  // one of base::kLogLevels

  // gRPC passthrough (wired by the gRPC proxy); empty grpc_listen disables it.
  std::string grpc_listen = "0.0.0.0:8001";
  std::string grpc_upstream = "127.0.0.1:9001";
  std::string grpc_engine = "frames";  // "frames" or "calls" (proxy::GrpcProxyOptions::Engine)
  // Lag reports (wired by the scaler client); empty coordinator disables reporting.
  std::string coordinator;
  std::chrono::milliseconds report_interval{1'000};
  uint32_t early_report_threshold = 8;
  std::string coordinator_token_file;
  // TLS on the report stream: a CA bundle turns it on; cert + key add a client certificate.
  std::string coordinator_ca, coordinator_cert, coordinator_key;
  std::chrono::milliseconds coordinator_tls_reload_interval{60'000};
};

// Parses the command line (with environment fallbacks). Returns the config, or nullopt with
// `exit_code` set: 0 after --help/--version, non-zero (and a message on stderr naming the setting
// and its value) for anything unknown or invalid.
std::optional<SidecarConfig> ParseFlags(int argc, const char* const* argv, int& exit_code);

}  // namespace lagscale::sidecar
