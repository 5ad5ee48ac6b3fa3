#pragma once

// Coordinator: the parts of one lagscale-coordinator process, wired, and their order of start
// and stop. It owns the decision engine, the actuator (behind the actuation worker), leader
// election, the report gRPC server (with KEDA's external scaler on the same port), the HTTP
// status server and the injection webhook; main() only parses flags, waits for signals and
// calls Reload() and Stop().
//
// Order:
//   constructor  load the configuration and the token file, build the actuator, the engine and
//                KEDA's scaler, then bind the gRPC, HTTP and webhook ports (serving /healthz and
//                reports at once; nothing is decided until Start())
//   Start()      the engine's decision loop, then leader election
//   Stop()       KEDA's streams end, the gRPC server shuts down (no more reports), the engine
//                stops deciding, the elector releases its Lease (a standby takes over at once),
//                then the HTTP server and the webhook stop
//
// Thread safety: construct, Start(), Reload(), Stop() and destroy from one controlling thread.

#include <cstddef>
#include <memory>
#include <string>

#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/engine.h"
#include "lagscale/coordinator/http_server.h"
#include "lagscale/coordinator/https_server.h"
#include "lagscale/coordinator/injector_webhook.h"
#include "lagscale/coordinator/keda_scaler.h"
#include "lagscale/coordinator/leader_election_flags.h"
#include "lagscale/coordinator/report_service.h"
#include "lagscale/coordinator/report_tls.h"
#include "lagscale/coordinator/scaler_view.h"

namespace CLI {
class App;
}

namespace lagscale::coordinator {

// Where decisions go (--actuator).
enum class ActuatorKind { kDryRun, kWebhook, kKubernetes };
// "dry-run", "webhook", "kubernetes": the flag's values.
const char* ActuatorName(ActuatorKind kind);

// Every setting of lagscale-coordinator but the log level and the status subcommand.
struct CoordinatorOptions {
  std::string config_path;  // "" = built-in defaults, and SIGHUP has nothing to reload
  std::string grpc_listen = "0.0.0.0:7070";
  std::string http_listen = "0.0.0.0:8080";
  ActuatorKind actuator = ActuatorKind::kDryRun;
  std::string webhook_url;  // required with ActuatorKind::kWebhook
  std::string kubeconfig;   // "" = in-cluster
  std::string token_file;   // "" = sidecars need no token
  ReportTlsOptions report_tls;
  InjectorFlags injector;
  size_t history_models = EngineOptions{}.history_models;
  // Targets written at the same time (each target by one thread at a time).
  int actuation_threads = 4;
  LeaderElectionFlags leader;
};

// Adds the flags (each with a LAGSCALE_* environment variable) that fill `options`.
void AddCoordinatorFlags(CLI::App& app, CoordinatorOptions& options);

class Coordinator {
 public:
  // Builds every part and binds every port. Throws std::runtime_error (ConfigError for the
  // configuration file) naming the setting when one cannot be used.
  explicit Coordinator(CoordinatorOptions options);
  ~Coordinator();  // Stop() if serving
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // REQUIRES: not started yet.
  void Start();
  // The ready line with the real addresses, e.g.
  // "lagscale-coordinator ready grpc=127.0.0.1:7070 http=127.0.0.1:8080".
  std::string ReadyLine() const;
  // Re-reads --config (SIGHUP). A bad file is logged and counted; the previous one stays.
  void Reload();
  // Stops every part in the documented order. Idempotent.
  void Stop();

 private:
  enum class Phase { kBuilt, kServing, kStopped };

  void BuildActuators();
  void BuildEngine();
  void BindServers();

  CoordinatorOptions options_;
  Phase phase_ = Phase::kBuilt;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<LeaderElector> elector_;  // null without --leader-elect
  std::unique_ptr<ActuationWorker> worker_;
  // Seldon mode reads Model/Server bounds from the API even when decisions are only shown.
  std::unique_ptr<ActuationWorker> reader_;
  CoordinatorMetrics metrics_;
  ScalerViewHub scaler_view_;  // KEDA's external scaler reads the engine through it
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<KedaScaler> keda_;
  std::unique_ptr<ReportServer> grpc_server_;
  std::unique_ptr<HttpServer> http_server_;
  std::unique_ptr<HttpsServer> injector_;  // null without --webhook-listen
};

}  // namespace lagscale::coordinator
