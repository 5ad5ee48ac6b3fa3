// The lagscale-coordinator flags that fill CoordinatorOptions; each has a LAGSCALE_* variable.
#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>

#include "lagscale/coordinator/coordinator.h"

namespace lagscale::coordinator {

namespace {

ActuatorKind ActuatorFromName(const std::string& name) {
  for (ActuatorKind kind :
       {ActuatorKind::kDryRun, ActuatorKind::kWebhook, ActuatorKind::kKubernetes}) {
    if (name == ActuatorName(kind)) return kind;
  }
  throw std::invalid_argument("--actuator: invalid value \"" + name + "\"");
}

}  // namespace

const char* ActuatorName(ActuatorKind kind) {
  switch (kind) {
    case ActuatorKind::kWebhook:
      return "webhook";
    case ActuatorKind::kKubernetes:
      return "kubernetes";
    case ActuatorKind::kDryRun:
      break;
  }
  return "dry-run";
}

void AddCoordinatorFlags(CLI::App& app, CoordinatorOptions& o) {
  app.add_option("--config", o.config_path, "YAML file with targets and policies")
      ->envname("LAGSCALE_CONFIG");
  app.add_option("--grpc-listen", o.grpc_listen, "address for sidecar report streams")
      ->envname("LAGSCALE_GRPC_LISTEN")
      ->capture_default_str();
  app.add_option("--http-listen", o.http_listen, "address for /status, /metrics, /healthz")
      ->envname("LAGSCALE_HTTP_LISTEN")
      ->capture_default_str();
  // IsMember has already checked the value when the callback runs.
  app.add_option_function<std::string>(
         "--actuator", [&o](const std::string& name) { o.actuator = ActuatorFromName(name); },
         "where decisions go")
      ->envname("LAGSCALE_ACTUATOR")
      ->check(CLI::IsMember({"dry-run", "kubernetes", "webhook"}))
      ->default_str(ActuatorName(o.actuator));
  app.add_option("--webhook-url", o.webhook_url, "URL the webhook actuator POSTs decisions to")
      ->envname("LAGSCALE_WEBHOOK_URL");
  app.add_option("--kubeconfig", o.kubeconfig,
                 "kubeconfig for the kubernetes actuator and Seldon mode (default: in-cluster)")
      ->envname("LAGSCALE_KUBECONFIG")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", o.token_file,
                 "file with the bearer token sidecars must present (empty: no check)")
      ->envname("LAGSCALE_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  AddReportTlsFlags(app, o.report_tls);
  AddInjectorFlags(app, o.injector);
  app.add_option("--history-models", o.history_models,
                 "models with 15 minutes of 1 s history (18 KB each; the busiest when more)")
      ->envname("LAGSCALE_HISTORY_MODELS")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--actuation-threads", o.actuation_threads,
                 "targets written at the same time; each target by one thread at a time")
      ->envname("LAGSCALE_ACTUATION_THREADS")
      ->check(CLI::Range(1, ActuationWorker::kMaxThreads))
      ->capture_default_str();
  AddLeaderElectionFlags(app, o.leader);
}

}  // namespace lagscale::coordinator
