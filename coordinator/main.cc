// lagscale-coordinator: aggregates every sidecar's lag reports, decides model and server replicas
// and writes them through an actuator.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/config.h"
#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/engine.h"
#include "lagscale/coordinator/http_server.h"
#include "lagscale/coordinator/injector_webhook.h"
#include "lagscale/coordinator/keda_scaler.h"
#include "lagscale/coordinator/kubernetes.h"
#include "lagscale/coordinator/leader_election_flags.h"
#include "lagscale/coordinator/report_service.h"
#include "lagscale/coordinator/routes.h"
#include "lagscale/coordinator/status_cli.h"
#include "lagscale/version.h"

namespace lc = lagscale::coordinator;

namespace {

std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--token-file: cannot read \"" + path + "\"");
  std::stringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  if (t.empty()) throw std::runtime_error("--token-file: \"" + path + "\" is empty");
  return t;
}

// The address people and tests should dial: a wildcard listen address is reachable on loopback.
std::string Dialable(const std::string& listen, int port) {
  std::string host = lc::SplitHostPort(listen, "listen").first;
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

lc::KubeConnection Connection(const std::string& kubeconfig) {
  return kubeconfig.empty() ? lc::InClusterConnection() : lc::KubeconfigConnection(kubeconfig);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lagscale-coordinator: scales inference models and servers on inference lag"};
  app.set_version_flag("--version", std::string("lagscale-coordinator ") + lagscale::kVersion +
                                        " (" + lagscale::kRevision + ")");
  std::string config_path, grpc_listen = "0.0.0.0:7070", http_listen = "0.0.0.0:8080",
                           actuator_name = "dry-run", webhook_url, kubeconfig, token_file,
                           log_level = "info";
  app.add_option("--config", config_path, "YAML file with targets and policies")
      ->envname("LAGSCALE_CONFIG");
  app.add_option("--grpc-listen", grpc_listen, "address for sidecar report streams")
      ->envname("LAGSCALE_GRPC_LISTEN")
      ->capture_default_str();
  app.add_option("--http-listen", http_listen, "address for /status, /metrics, /healthz")
      ->envname("LAGSCALE_HTTP_LISTEN")
      ->capture_default_str();
  app.add_option("--actuator", actuator_name, "where decisions go")
      ->envname("LAGSCALE_ACTUATOR")
      ->check(CLI::IsMember({"dry-run", "kubernetes", "webhook"}))
      ->capture_default_str();
  app.add_option("--webhook-url", webhook_url, "URL the webhook actuator POSTs decisions to")
      ->envname("LAGSCALE_WEBHOOK_URL");
  app.add_option("--kubeconfig", kubeconfig,
                 "kubeconfig for the kubernetes actuator and Seldon mode (default: in-cluster)")
      ->envname("LAGSCALE_KUBECONFIG")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", token_file,
                 "file with the bearer token sidecars must present (empty: no check)")
      ->envname("LAGSCALE_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  lc::ReportTlsOptions report_tls;
  lc::AddReportTlsFlags(app, report_tls);
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->envname("LAGSCALE_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  lc::InjectorFlags injector_flags;
  lc::AddInjectorFlags(app, injector_flags);
  size_t history_models = lc::EngineOptions{}.history_models;
  app.add_option("--history-models", history_models,
                 "models with 15 minutes of 1 s history (18 KB each; the busiest when more)")
      ->envname("LAGSCALE_HISTORY_MODELS")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  lc::StatusCommandOptions status_options;
  CLI::App* status_command = lc::AddStatusCommand(app, status_options);
  lc::LeaderElectionFlags leader_flags;
  lc::AddLeaderElectionFlags(app, leader_flags);
  CLI11_PARSE(app, argc, argv);
  if (status_command->parsed()) return lc::RunStatusCommand(status_options);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(spdlog::stderr_color_mt("coordinator"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Signals are taken synchronously by the main thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    auto config = std::make_shared<const lc::Config>(
        config_path.empty() ? lc::Config{} : lc::LoadConfigFile(config_path));
    const std::string token = token_file.empty() ? "" : ReadToken(token_file);

    auto elector = lc::MakeLeaderElector(leader_flags, [&] { return Connection(kubeconfig); });
    std::unique_ptr<lc::Actuator> actuator;
    if (actuator_name == "webhook") {
      if (webhook_url.empty())
        throw std::runtime_error("--webhook-url: required with --actuator webhook");
      actuator = lc::MakeWebhookActuator({webhook_url});
    } else if (actuator_name == "kubernetes") {
      lc::KubernetesOptions kube_options;
      if (elector) kube_options.may_write = [e = elector.get()] { return e->Leading(); };
      actuator = lc::MakeKubernetesActuator(Connection(kubeconfig), kube_options);
    } else {
      actuator = lc::MakeDryRunActuator();
    }
    if (elector) actuator = lc::MakeLeaderOnlyActuator(std::move(actuator), *elector);
    lc::ActuationWorker worker(std::move(actuator), lc::WorkerOptions{});
    // Seldon mode reads Model/Server bounds from the API even when decisions are only shown.
    std::unique_ptr<lc::ActuationWorker> reader;
    if (config->seldon.enabled && actuator_name != "kubernetes") {
      reader = std::make_unique<lc::ActuationWorker>(
          lc::MakeKubernetesActuator(Connection(kubeconfig)), lc::WorkerOptions{});
    }
    lc::CoordinatorMetrics metrics;
    lc::ScalerViewHub scaler_view;  // KEDA's external scaler reads the engine through it
    lc::EngineOptions options;
    options.scaler_view = &scaler_view;
    options.config = config;
    options.actuator = &worker;
    options.reader = reader ? reader.get() : (actuator_name == "kubernetes" ? &worker : nullptr);
    options.metrics = &metrics;
    options.history_models = history_models;
    options.leadership = elector.get();
    lc::Engine engine(std::move(options));
    lc::KedaScaler keda(scaler_view);
    lc::ReportServer grpc_server(grpc_listen, engine, &metrics, token, report_tls, keda.service());
    lc::HttpServer http_server(http_listen, lc::MakeRoutes(engine, metrics));
    auto injector = lc::StartInjector(injector_flags, metrics);
    engine.Start();
    if (elector) elector->Start();
    const std::string webhook =
        injector ? " webhook=" + Dialable(injector_flags.listen, injector->port()) : "";
    std::printf("lagscale-coordinator ready grpc=%s http=%s%s\n",
                Dialable(grpc_listen, grpc_server.port()).c_str(),
                Dialable(http_listen, http_server.port()).c_str(), webhook.c_str());
    std::fflush(stdout);
    spdlog::info("serving; actuator {}, {} models and {} servers configured", actuator_name,
                 config->models.size(), config->servers.size());

    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig != SIGHUP) break;
      if (config_path.empty()) {
        spdlog::warn("SIGHUP: no --config to reload");
        continue;
      }
      try {
        engine.Reload(std::make_shared<const lc::Config>(lc::LoadConfigFile(config_path)));
        metrics.OnReload(true);
        spdlog::info("SIGHUP: reloaded {}", config_path);
      } catch (const lc::ConfigError& e) {
        metrics.OnReload(false);
        spdlog::error("SIGHUP: keeping the previous configuration: {}", e.what());
      }
    }
    spdlog::info("shutting down");
    keda.Shutdown();
    grpc_server.Shutdown();
    engine.Stop();
    if (elector) elector->Stop();  // releases the Lease: a standby takes over at once
    http_server.Stop();
    if (injector) injector->Stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lagscale-coordinator: %s\n", e.what());
    return 2;
  }
  return 0;
}
