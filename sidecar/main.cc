// lagscale-sidecar: a reverse proxy in front of one inference server that counts per-model lag.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "lagscale/version.h"

int main(int argc, char** argv) {
  CLI::App app{"lagscale-sidecar: counts per-model inference lag in front of an inference server"};
  app.set_version_flag("--version", std::string("lagscale-sidecar ") + lagscale::kVersion + " (" +
                                        lagscale::kRevision + ")");
  std::string listen = "0.0.0.0:8000", upstream = "127.0.0.1:9000", admin = "0.0.0.0:9090";
  app.add_option("--listen", listen, "HTTP/1.1 listen address")->envname("LAGSCALE_LISTEN");
  app.add_option("--upstream", upstream, "inference server HTTP address")
      ->envname("LAGSCALE_UPSTREAM");
  app.add_option("--admin", admin, "admin address (/metrics, /healthz, /readyz, /stats)")
      ->envname("LAGSCALE_ADMIN");
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "lagscale-sidecar: not implemented yet\n");
  return 1;
}
