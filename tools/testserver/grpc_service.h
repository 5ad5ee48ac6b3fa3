#pragma once

// InferenceService: the seven RPCs of inference.GRPCInferenceService.
// Thread safety: gRPC calls the methods concurrently; the service keeps no state of its own
// beyond the shared Capacity (thread-safe) and IoPool.

#include "capacity.h"
#include "inference/grpc_service.grpc.pb.h"
#include "io_pool.h"

namespace lagscale::testserver {

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
  using Context = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

 public:
  InferenceService(Capacity& capacity, IoPool& pool) : capacity_(capacity), pool_(pool) {}

  // The server: always live and ready; its metadata names the test server.
  Unary* ServerLive(Context* context, const inference::ServerLiveRequest* request,
                    inference::ServerLiveResponse* response) override;
  Unary* ServerReady(Context* context, const inference::ServerReadyRequest* request,
                     inference::ServerReadyResponse* response) override;
  Unary* ServerMetadata(Context* context, const inference::ServerMetadataRequest* request,
                        inference::ServerMetadataResponse* response) override;

  // A model: NOT_FOUND unless it is served here.
  Unary* ModelReady(Context* context, const inference::ModelReadyRequest* request,
                    inference::ModelReadyResponse* response) override;
  Unary* ModelMetadata(Context* context, const inference::ModelMetadataRequest* request,
                       inference::ModelMetadataResponse* response) override;

  // Inference: waits for a slot of the model and holds it for the service time.
  Unary* ModelInfer(Context* context, const inference::ModelInferRequest* request,
                    inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(Context* context) override;

 private:
  // Finishes a call that takes no slot, after x-test-delay-ms, with x-test-status or `status`.
  Unary* Answer(Context* context, grpc::Status status);

  Capacity& capacity_;
  IoPool& pool_;
};

}  // namespace lagscale::testserver
