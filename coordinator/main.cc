// lagscale-coordinator: aggregates every sidecar's lag reports, decides model and server replicas
// and writes them through an actuator.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "lagscale/version.h"

int main(int argc, char** argv) {
  CLI::App app{"lagscale-coordinator: scales inference models and servers on inference lag"};
  app.set_version_flag("--version", std::string("lagscale-coordinator ") + lagscale::kVersion +
                                        " (" + lagscale::kRevision + ")");
  std::string config, grpc_listen = "0.0.0.0:7070", http_listen = "0.0.0.0:8080",
                      actuator = "dry-run";
  app.add_option("--config", config, "YAML file with targets and policies")
      ->envname("LAGSCALE_CONFIG");
  app.add_option("--grpc-listen", grpc_listen, "address for sidecar report streams")
      ->envname("LAGSCALE_GRPC_LISTEN")
      ->capture_default_str();
  app.add_option("--http-listen", http_listen, "address for /status, /metrics, /healthz")
      ->envname("LAGSCALE_HTTP_LISTEN")
      ->capture_default_str();
  app.add_option("--actuator", actuator, "where decisions go")
      ->envname("LAGSCALE_ACTUATOR")
      ->check(CLI::IsMember({"dry-run", "kubernetes", "webhook"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "lagscale-coordinator: not implemented yet\n");
  return 1;
}
