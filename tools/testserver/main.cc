// lagscale-testserver: a V2 inference server (REST + gRPC) whose models have a service time and a
// capacity (replicas x concurrency), so lag builds under load and drains when replicas are added
// through POST /admin/scale. The upstream of the tests, the demo and the proxy benchmarks.
// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "capacity.h"
#include "config.h"
#include "grpc_server.h"
#include "http_server.h"
#include "io_pool.h"
#include "listen_address.h"

namespace lagscale::testserver {
namespace {

bool StartUpError(const std::string& message) {
  std::fprintf(stderr, "lagscale-testserver: %s\n", message.c_str());
  return false;
}

// The listen endpoints of --http and --grpc (none for an empty --grpc), or false after saying why.
bool ParseListeners(const Config& config, boost::asio::ip::tcp::endpoint& http,
                    std::optional<boost::asio::ip::tcp::endpoint>& grpc) {
  auto parsed_http = ParseListenAddress(config.http_listen, "--http");
  if (!parsed_http) return StartUpError(parsed_http.error());
  http = *parsed_http;
  if (config.grpc_listen.empty()) return true;
  auto parsed_grpc = ParseListenAddress(config.grpc_listen, "--grpc");
  if (!parsed_grpc) return StartUpError(parsed_grpc.error());
  grpc = *parsed_grpc;
  return true;
}

int Run(const Config& config) {
  boost::asio::ip::tcp::endpoint http_endpoint;
  std::optional<boost::asio::ip::tcp::endpoint> grpc_endpoint;
  if (!ParseListeners(config, http_endpoint, grpc_endpoint)) return 2;

  Capacity capacity(config);
  IoPool pool(config.threads);
  std::unique_ptr<HttpServer> http;
  try {
    http = std::make_unique<HttpServer>(pool, capacity, http_endpoint);
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "lagscale-testserver: --http %s: cannot listen: %s\n",
                 config.http_listen.c_str(), e.code().message().c_str());
    return 1;
  }
  std::unique_ptr<GrpcServer> grpc;
  if (grpc_endpoint) {
    grpc = GrpcServer::Start(capacity, pool, *grpc_endpoint);
    if (!grpc) {
      std::fprintf(stderr, "lagscale-testserver: --grpc %s: cannot listen\n",
                   config.grpc_listen.c_str());
      return 1;
    }
  }

  // Stop on SIGINT/SIGTERM: close the listeners, let gRPC finish, then stop the I/O threads.
  boost::asio::io_context signals_context;
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int) {});

  http->Start();
  pool.Start();
  std::string ready = "lagscale-testserver ready http=" + DialAddress(http->local_endpoint());
  if (grpc) {
    grpc_endpoint->port(static_cast<unsigned short>(grpc->port()));
    ready += " grpc=" + DialAddress(*grpc_endpoint);
  }
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);

  signals_context.run();  // returns after the first signal
  spdlog::info("stopping");
  http->Stop();
  if (grpc) grpc->Shutdown();
  pool.Stop();
  pool.Join();
  capacity.Close();  // queued requests are dropped while their I/O contexts still exist
  return 0;
}

}  // namespace
}  // namespace lagscale::testserver

int main(int argc, char** argv) {
  int exit_code = 0;
  auto config = lagscale::testserver::ParseConfig(argc, argv, &exit_code);
  if (!config) return exit_code;
  // stdout carries only the ready line; logs go to stderr.
  auto logger = spdlog::stderr_color_mt("testserver");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  return lagscale::testserver::Run(*config);
}
