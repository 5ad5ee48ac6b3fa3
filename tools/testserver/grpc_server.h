#pragma once

// GrpcServer: inference.GRPCInferenceService (the V2 gRPC protocol) on the callback API. Inference
// goes through the same capacity queue as REST; waiting and service time run on the IoPool's
// timers, so a slow request holds no thread.
// Thread safety: Start and Shutdown from one thread; RPCs run on gRPC's and the IoPool's threads.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <grpcpp/server.h>

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "capacity.h"
#include "io_pool.h"

namespace lagscale::testserver {

class InferenceService;

class GrpcServer {
 public:
  // Listens on `endpoint` (port 0: any); nullptr when it cannot.
  static std::unique_ptr<GrpcServer> Start(Capacity& capacity, IoPool& pool,
                                           const boost::asio::ip::tcp::endpoint& endpoint);
  ~GrpcServer();

  int port() const { return port_; }
  // Stops accepting RPCs and waits briefly for the running ones.
  void Shutdown();

 private:
  GrpcServer() = default;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace lagscale::testserver
