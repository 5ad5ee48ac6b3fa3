#pragma once

// ReportService: the gRPC LagService endpoint sidecars stream PodReports to. Each stream is a
// callback reactor: a report read is stamped and handed to the Engine's queue (never applied on
// the gRPC thread), then acknowledged with its incarnation and sequence. When a token is set,
// streams must carry `authorization: Bearer <token>` or end with UNAUTHENTICATED.
// Thread safety: gRPC calls it from its own threads; the Engine queue is the only shared state.

#include <memory>
#include <string>

#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/engine.h"
#include "lagscale/coordinator/report_tls.h"

namespace grpc {
class Server;
class Service;
}

namespace lagscale::coordinator {

class ReportServer {
 public:
  // Binds `listen` ("host:port", port 0 = any) and starts serving, with TLS when `tls` is enabled
  // (report_tls.h) and `extra_service` (if any) on the same port. Streams must present the bearer
  // token in `token_file` ("" = no check), read again as it rotates. Throws std::runtime_error.
  ReportServer(const std::string& listen, Engine& engine, CoordinatorMetrics* metrics,
               std::string token_file, const ReportTlsOptions& tls = {},
               grpc::Service* extra_service = nullptr);
  ~ReportServer();
  int port() const { return port_; }
  void Shutdown();

 private:
  struct Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<ReportServerTls> tls_;  // outlives server_: its files are read while it runs
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace lagscale::coordinator
