#include "grpc_echo.h"

namespace lagscale::testserver {

void EchoInfer(const inference::ModelInferRequest& request,
               inference::ModelInferResponse* response) {
  response->set_model_name(request.model_name());
  response->set_model_version(request.model_version());
  response->set_id(request.id());
  *response->mutable_parameters() = request.parameters();
  for (const auto& input : request.inputs()) {
    auto* output = response->add_outputs();
    output->set_name(input.name());
    output->set_datatype(input.datatype());
    *output->mutable_shape() = input.shape();
    if (input.has_contents()) *output->mutable_contents() = input.contents();
  }
  *response->mutable_raw_output_contents() = request.raw_input_contents();
}

}  // namespace lagscale::testserver
