#pragma once

// LiveStack: the real binaries wired like a small deployment on loopback, for tests of what an
// operator sees (the status page, `lagscale-coordinator status`, the Grafana dashboard's series):
// the V2 test server, one sidecar in front of it (server "mlserver", pod "mlserver-0") reporting
// every 200 ms to a coordinator run with `config_yaml`, dry-run actuator. BusyClients keeps models
// busy through it.
// Thread safety: not thread-safe; Infer() may be called from several threads at once.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace lagscale::testing {

class LiveStack {
 public:
  // Starts everything; check ok() (a failure to start has already failed the test).
  LiveStack(const std::string& config_yaml, const std::vector<std::string>& models) {
    dir_ = std::filesystem::temp_directory_path() /
           ("lagscale-live-" + std::to_string(::getpid()) + "-" + std::to_string(++Counter()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "coordinator.yaml") << config_yaml;
    coordinator_ =
        StartReady("lagscale-coordinator",
                   {"--config", (dir_ / "coordinator.yaml").string(), "--grpc-listen",
                    "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-level", "warn"},
                   coordinator_addr_);
    if (!coordinator_) return;
    std::vector<std::string> upstream_args = {"--http",      "127.0.0.1:0",   "--grpc",
                                              "127.0.0.1:0", "--concurrency", "1000"};
    for (const auto& m : models) upstream_args.insert(upstream_args.end(), {"--model", m});
    upstream_ = StartReady("lagscale-testserver", upstream_args, upstream_addr_);
    if (!upstream_) return;
    sidecar_ = StartReady(
        "lagscale-sidecar",
        {"--listen", "127.0.0.1:0", "--upstream", upstream_addr_["http"], "--admin", "127.0.0.1:0",
         "--grpc-listen", "", "--threads", "2", "--server-name", "mlserver", "--pod-name",
         "mlserver-0", "--coordinator", coordinator_addr_["grpc"], "--report-interval", "200ms"},
        sidecar_addr_);
  }
  ~LiveStack() {
    sidecar_.reset();
    upstream_.reset();
    coordinator_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A coordinator configuration that decides every 100 ms on short windows (1 s panic, 2 s stable;
  // target concurrency 1, 1-10 replicas) for `models`, all on server "mlserver" (placement all).
  static std::string Config(const std::vector<std::string>& models) {
    std::string yaml = R"(decisionInterval: 100ms
windows: [1s, 5s]
defaults:
  minReplicas: 1
  maxReplicas: 10
  targetConcurrency: 1
  stableWindow: 2s
  panicWindow: 1s
servers:
  - name: mlserver
    placement: all
models:
)";
    for (const auto& m : models) yaml += "  - name: " + m + "\n    server: mlserver\n";
    return yaml;
  }

  bool ok() const { return coordinator_ && upstream_ && sidecar_; }
  // host:port of the coordinator's /status, /metrics and page.
  const std::string& coordinator_http() { return coordinator_addr_["http"]; }
  const std::string& sidecar_admin() { return sidecar_addr_["admin"]; }
  const std::filesystem::path& dir() const { return dir_; }

  // One inference request for `model` through the sidecar; the HTTP status.
  int Infer(const std::string& model) {
    return Http("POST", sidecar_addr_.at("http"), "/v2/models/" + model + "/infer",
                R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1.0]}]})")
        .status;
  }

 private:
  static int& Counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> coordinator_, upstream_, sidecar_;
  std::map<std::string, std::string> coordinator_addr_, upstream_addr_, sidecar_addr_;
};

// `clients` threads sending requests for `model` back to back through `stack` until Stop() or
// destruction.
class BusyClients {
 public:
  BusyClients(LiveStack& stack, const std::string& model, int clients) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, &stack, model] {
        while (!stop_.load()) stack.Infer(model);
      });
    }
  }
  ~BusyClients() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace lagscale::testing
