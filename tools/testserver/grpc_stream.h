#pragma once

// ModelStreamInfer: every request message on the stream is one inference, queued for a slot of
// its model like any other request; the stream answers each with one ModelStreamInferResponse, in
// request order. A message for a model not served here is answered with `error_message` and the
// stream goes on (as Triton does). The stream ends, after the last answer, with OK or with the
// status asked for in `x-test-status` metadata; `x-test-delay-ms` adds to each message's service.

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "capacity.h"
#include "inference/grpc_service.pb.h"
#include "io_pool.h"

namespace lagscale::testserver {

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
MakeStreamInferReactor(grpc::CallbackServerContext* context, Capacity& capacity, IoPool& pool);

}  // namespace lagscale::testserver
