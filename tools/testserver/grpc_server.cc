#include "grpc_server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>

#include "grpc_service.h"
#include "listen_address.h"

namespace lagscale::testserver {

std::unique_ptr<GrpcServer> GrpcServer::Start(Capacity& capacity, IoPool& pool,
                                              const boost::asio::ip::tcp::endpoint& endpoint) {
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<InferenceService>(capacity, pool);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(FormatEndpoint(endpoint), grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) return nullptr;
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::Shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
}

}  // namespace lagscale::testserver
