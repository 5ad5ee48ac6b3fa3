#pragma once

// InferenceService: the seven RPCs of inference.GRPCInferenceService.
// Thread safety: gRPC calls the methods concurrently; the service keeps no state of its own
// beyond the shared Capacity (thread-safe) and IoPool.

#include "capacity.h"
#include "inference/grpc_service.grpc.pb.h"
#include "io_pool.h"

namespace lagscale::testserver {

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  InferenceService(Capacity& capacity, IoPool& pool) : capacity_(capacity), pool_(pool) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;

 private:
  // Finishes a call that takes no slot, after x-test-delay-ms, with x-test-status or `status`.
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, grpc::Status status);

  Capacity& capacity_;
  IoPool& pool_;
};

}  // namespace lagscale::testserver
