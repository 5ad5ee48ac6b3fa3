#pragma once

// The gRPC inference "model": every input tensor comes back as an output tensor of the same name.

#include "inference/grpc_service.pb.h"

namespace lagscale::testserver {

void EchoInfer(const inference::ModelInferRequest& request,
               inference::ModelInferResponse* response);

}  // namespace lagscale::testserver
