#pragma once
// Internal to proxy/: what GrpcProxy asks of an engine. Two implement it: the calls engine (a gRPC
// server and a gRPC client call per proxied call, grpc_proxy.cc) and the frames engine (HTTP/2
// frames forwarded by nghttp2, h2_engine.h). The contract is GrpcProxy's (grpc_proxy.h).

#include <chrono>
#include <cstdint>
#include <string>

namespace lagscale::proxy::internal {

class GrpcEngine {
 public:
  virtual ~GrpcEngine() = default;
  virtual void Start() = 0;
  virtual int port() const = 0;
  virtual std::string address() const = 0;
  virtual void Shutdown(std::chrono::milliseconds drain) = 0;
  virtual int64_t live() const = 0;
};

}  // namespace lagscale::proxy::internal
