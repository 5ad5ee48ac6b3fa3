#include "lagscale/coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <utility>

#include "lagscale/base/host_port.h"
#include "lagscale/base/text_file.h"
#include "lagscale/coordinator/kubernetes.h"
#include "lagscale/coordinator/routes.h"

namespace lagscale::coordinator {

namespace lc = lagscale::coordinator;

namespace {

// The address people and tests should dial: a wildcard listen address is reachable on loopback.
std::string Dialable(const std::string& listen, int port) {
  return base::Dialable({SplitHostPort(listen, "listen").first, static_cast<uint16_t>(port)})
      .ToString();
}

lc::KubeConnection Connection(const std::string& kubeconfig) {
  return kubeconfig.empty() ? lc::InClusterConnection() : lc::KubeconfigConnection(kubeconfig);
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options) : options_(std::move(options)) {
  config_ = std::make_shared<const Config>(
      options_.config_path.empty() ? Config{} : LoadConfigFile(options_.config_path));
  BuildActuators();
  BuildEngine();
  BindServers();
}

Coordinator::~Coordinator() {
  if (phase_ == Phase::kServing) Stop();
}

// The actuator the flags choose, behind the leader-only gate when several replicas run, one per
// actuation thread; and in Seldon mode a Kubernetes reader for the resources' bounds.
void Coordinator::BuildActuators() {
  elector_ = MakeLeaderElector(options_.leader, [this] { return Connection(options_.kubeconfig); });
  if (options_.actuator == ActuatorKind::kWebhook && options_.webhook_url.empty()) {
    throw std::runtime_error("--webhook-url: required with --actuator webhook");
  }
  const auto make = [this]() -> std::unique_ptr<Actuator> {
    std::unique_ptr<Actuator> actuator;
    switch (options_.actuator) {
      case ActuatorKind::kWebhook:
        actuator = MakeWebhookActuator({options_.webhook_url});
        break;
      case ActuatorKind::kKubernetes: {
        KubernetesOptions kube_options;
        if (elector_) kube_options.may_write = [e = elector_.get()] { return e->Leading(); };
        actuator = MakeKubernetesActuator(Connection(options_.kubeconfig), kube_options);
        break;
      }
      case ActuatorKind::kDryRun:
        actuator = MakeDryRunActuator();
        break;
    }
    if (elector_) actuator = MakeLeaderOnlyActuator(std::move(actuator), *elector_);
    return actuator;
  };
  worker_ = std::make_unique<ActuationWorker>(make, options_.actuation_threads, WorkerOptions{});
  if (config_->seldon.enabled && options_.actuator != ActuatorKind::kKubernetes) {
    reader_ = std::make_unique<ActuationWorker>(
        MakeKubernetesActuator(Connection(options_.kubeconfig)), WorkerOptions{});
  }
}

void Coordinator::BuildEngine() {
  EngineOptions engine;
  engine.scaler_view = &scaler_view_;
  engine.config = config_;
  engine.actuator = worker_.get();
  // The Kubernetes actuator reads the Seldon bounds itself.
  engine.reader = reader_
                      ? reader_.get()
                      : (options_.actuator == ActuatorKind::kKubernetes ? worker_.get() : nullptr);
  engine.metrics = &metrics_;
  engine.history_models = options_.history_models;
  engine.leadership = elector_.get();
  engine_ = std::make_unique<Engine>(std::move(engine));
  keda_ = std::make_unique<KedaScaler>(scaler_view_);
}

void Coordinator::BindServers() {
  grpc_server_ =
      std::make_unique<ReportServer>(options_.grpc_listen, *engine_, &metrics_, options_.token_file,
                                     options_.report_tls, keda_->service());
  http_server_ = std::make_unique<HttpServer>(options_.http_listen, MakeRoutes(*engine_, metrics_));
  injector_ = StartInjector(options_.injector, metrics_);
}

void Coordinator::Start() {
  engine_->Start();
  if (elector_) elector_->Start();
  phase_ = Phase::kServing;
  spdlog::info("serving; actuator {}, {} models and {} servers configured",
               ActuatorName(options_.actuator), config_->models.size(), config_->servers.size());
}

std::string Coordinator::ReadyLine() const {
  const std::string webhook =
      injector_ ? " webhook=" + Dialable(options_.injector.listen, injector_->port()) : "";
  return "lagscale-coordinator ready grpc=" + Dialable(options_.grpc_listen, grpc_server_->port()) +
         " http=" + Dialable(options_.http_listen, http_server_->port()) + webhook;
}

void Coordinator::Reload() {
  if (options_.config_path.empty()) {
    spdlog::warn("SIGHUP: no --config to reload");
    return;
  }
  try {
    engine_->Reload(std::make_shared<const Config>(LoadConfigFile(options_.config_path)));
    metrics_.OnReload(true);
    spdlog::info("SIGHUP: reloaded {}", options_.config_path);
  } catch (const ConfigError& e) {
    metrics_.OnReload(false);
    spdlog::error("SIGHUP: keeping the previous configuration: {}", e.what());
  }
}

void Coordinator::Stop() {
  if (phase_ == Phase::kStopped) return;
  phase_ = Phase::kStopped;
  spdlog::info("shutting down");
  keda_->Shutdown();
  grpc_server_->Shutdown();
  engine_->Stop();
  // The write in flight (up to the actuator's timeout) lands before the Lease is released: a
  // standby that takes over at once must read what this replica wrote, never be overtaken by it.
  if (worker_) worker_->Stop();
  if (reader_) reader_->Stop();
  if (elector_) elector_->Stop();  // releases the Lease: a standby takes over at once
  http_server_->Stop();
  if (injector_) injector_->Stop();
}

}  // namespace lagscale::coordinator
