// lagscale-coordinator: aggregates every sidecar's lag reports, decides model and server replicas
// and writes them through an actuator. main() parses the flags, builds the Coordinator (which
// owns every part and their order), waits for signals and stops it.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lagscale/base/grpc_logging.h"
#include "lagscale/base/logging.h"
#include "lagscale/base/process_exit.h"
#include "lagscale/coordinator/coordinator.h"
#include "lagscale/coordinator/status_cli.h"
#include "lagscale/version.h"

namespace base = lagscale::base;
namespace lc = lagscale::coordinator;

namespace {

// Serves until SIGTERM or SIGINT; SIGHUP reloads the configuration.
int Serve(lc::CoordinatorOptions options, const sigset_t& signals) {
  // Anything that stops start-up comes from a setting: 2, as for a rejected flag, and the same
  // in the sidecar. A failure once serving is 1.
  std::unique_ptr<lc::Coordinator> coordinator;
  try {
    coordinator = std::make_unique<lc::Coordinator>(std::move(options));
    coordinator->Start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lagscale-coordinator: %s\n", e.what());
    return base::kExitBadConfiguration;
  }
  std::printf("%s\n", coordinator->ReadyLine().c_str());
  std::fflush(stdout);
  try {
    while (base::WaitForSignal(signals) == SIGHUP) coordinator->Reload();
    coordinator->Stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lagscale-coordinator: %s\n", e.what());
    return base::kExitFailure;
  }
  return base::kExitClean;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lagscale-coordinator: scales inference models and servers on inference lag"};
  app.set_version_flag("--version", std::string("lagscale-coordinator ") + lagscale::kVersion +
                                        " (" + lagscale::kRevision + ")");
  lc::CoordinatorOptions options;
  lc::AddCoordinatorFlags(app, options);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->envname("LAGSCALE_LOG_LEVEL")
      ->check(CLI::IsMember(std::vector<std::string>(base::kLogLevels.begin(),
                                                     base::kLogLevels.end())))
      ->capture_default_str();
  lc::StatusCommandOptions status_options;
  CLI::App* status_command = lc::AddStatusCommand(app, status_options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? base::kExitClean : base::kExitBadConfiguration;
  }
  if (status_command->parsed()) return lc::RunStatusCommand(status_options);
  base::SetUpLogging("coordinator", log_level);
  base::RouteGrpcLogs();

  // Signals are taken synchronously by the main thread; block them before any thread starts.
  const sigset_t signals = base::SignalSet({SIGINT, SIGTERM, SIGHUP});
  base::BlockSignals(signals);
  return Serve(std::move(options), signals);
}
