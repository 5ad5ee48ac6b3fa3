// lagscale-sidecar: a reverse proxy in front of one inference server that counts per-model lag.
// main() only parses the configuration, starts the Sidecar, waits for a signal and drains it;
// the Sidecar owns every part and their order.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>

#include "lagscale/base/grpc_logging.h"
#include "lagscale/base/logging.h"
#include "lagscale/base/process_exit.h"
#include "sidecar/config.h"
#include "sidecar/sidecar.h"

int main(int argc, char** argv) {
  namespace base = lagscale::base;
  int parse_code = 0;
  std::optional<lagscale::sidecar::SidecarConfig> config =
      lagscale::sidecar::ParseFlags(argc, argv, parse_code);
  if (!config) return parse_code == 0 ? base::kExitClean : base::kExitBadConfiguration;
  base::SetUpLogging("lagscale-sidecar", config->log_level);
  base::RouteGrpcLogs();

  // Signals are taken synchronously by the main thread; block them before any thread starts.
  const sigset_t signals = base::SignalSet({SIGTERM, SIGINT});
  base::BlockSignals(signals);
  // Anything that stops start-up comes from a setting (an address, a file, the upstream): 2, as
  // for a rejected flag, and the same in the coordinator. A failure once serving is 1.
  std::unique_ptr<lagscale::sidecar::Sidecar> sidecar;
  try {
    sidecar = std::make_unique<lagscale::sidecar::Sidecar>(*config);
    sidecar->Start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return base::kExitBadConfiguration;
  }
  std::printf("%s\n", sidecar->ReadyLine().c_str());
  std::fflush(stdout);
  spdlog::info("signal {}: draining", base::WaitForSignal(signals));
  try {
    sidecar->Drain();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return base::kExitFailure;
  }
  return base::kExitClean;
}
