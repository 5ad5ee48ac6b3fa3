// lagscale-grpc-bench-host: the processes bench/grpc/run.sh measures.
//   --upstream ADDR              a minimal inference.GRPCInferenceService (ModelInfer answers at
//                                once), the baseline both runs share
//   --proxy ADDR --to ADDR       lagscale::proxy::GrpcProxy in front of it, --threads threads,
//                                --engine calls|frames
//   --write-request FILE         writes a gRPC-framed ModelInferRequest body for h2load -d
// Prints "lagscale-grpc-bench-host ready upstream=HOST:PORT" (or proxy=) and serves until
// SIGINT/SIGTERM; the proxy then prints its ledger totals to stderr.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "inference/grpc_service.grpc.pb.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/proxy/grpc_proxy.h"

namespace {

class Upstream final : public inference::GRPCInferenceService::Service {
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* resp) override {
    resp->set_model_name(req->model_name());
    resp->set_id(req->id());
    return grpc::Status::OK;
  }
};

void WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig;
  sigwait(&set, &sig);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gRPC passthrough benchmark host"};
  std::string upstream_listen, proxy_listen, to, request_file, model = "iris";
  int threads = 2;
  size_t payload = 64;
  std::string engine = "calls";
  app.add_option("--upstream", upstream_listen, "serve the minimal upstream on ADDR");
  app.add_option("--proxy", proxy_listen, "serve the passthrough on ADDR");
  app.add_option("--to", to, "the passthrough's upstream");
  app.add_option("--threads", threads, "passthrough threads")->check(CLI::PositiveNumber);
  app.add_option("--engine", engine, "passthrough engine: calls or frames")
      ->check(CLI::IsMember({"calls", "frames"}));
  app.add_option("--write-request", request_file, "write a framed ModelInferRequest to FILE");
  app.add_option("--model", model, "model name in the request");
  app.add_option("--payload-bytes", payload, "raw input bytes in the request");
  CLI11_PARSE(app, argc, argv);

  if (!request_file.empty()) {
    inference::ModelInferRequest req;
    req.set_model_name(model);
    req.set_id("bench");
    req.add_raw_input_contents(std::string(payload, 'x'));
    const std::string body = req.SerializeAsString();
    const uint32_t n = static_cast<uint32_t>(body.size());
    const char prefix[5] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                            static_cast<char>(n >> 8), static_cast<char>(n)};
    std::ofstream(request_file, std::ios::binary).write(prefix, 5) << body;
    return 0;
  }

  // Signals are taken by sigwait(), so block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  if (!upstream_listen.empty()) {
    Upstream service;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(upstream_listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    if (!server || port == 0) {
      std::cerr << "cannot listen on --upstream " << upstream_listen << "\n";
      return 1;
    }
    std::cout << "lagscale-grpc-bench-host ready upstream=127.0.0.1:" << port << std::endl;
    WaitForSignal();
    server->Shutdown();
    return 0;
  }
  if (proxy_listen.empty() || to.empty()) {
    std::cerr << "need --upstream ADDR, or --proxy ADDR --to ADDR, or --write-request FILE\n";
    return 2;
  }
  lagscale::metrics::ModelTable table(1000);
  lagscale::metrics::Ledger ledger(table, static_cast<size_t>(threads));
  lagscale::proxy::GrpcProxyOptions options;
  options.listen = proxy_listen;
  options.upstream = to;
  options.engine = engine == "frames" ? lagscale::proxy::GrpcProxyOptions::Engine::kFrames
                                      : lagscale::proxy::GrpcProxyOptions::Engine::kCalls;
  lagscale::proxy::GrpcProxy proxy(options, ledger, 0, static_cast<size_t>(threads));
  try {
    proxy.Start();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::cout << "lagscale-grpc-bench-host ready proxy=127.0.0.1:" << proxy.port() << std::endl;
  WaitForSignal();
  proxy.Shutdown(std::chrono::seconds(1));
  for (const auto& [name, s] : ledger.Snapshot().models) {
    std::cerr << "ledger model=" << name << " arrivals=" << s.arrivals
              << " success=" << s.outcome(lagscale::metrics::Outcome::kSuccess)
              << " inflight=" << s.inflight() << "\n";
  }
  return 0;
}
