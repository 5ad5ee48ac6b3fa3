#pragma once

// The JSON bodies of the V2 (Open Inference Protocol) REST API and of the V1 predict route.
// Inference echoes every input tensor back as an output tensor of the same name, after checking
// the request the way a real server would (a malformed request is the client's error).

#include <string>
#include <string_view>

namespace lagscale::testserver {

// {"error": "<message>"}, the V2 error shape.
std::string ErrorJson(std::string_view message);

// GET /v2: {"name": "lagscale-testserver", "version": "...", "extensions": [...]}.
std::string ServerMetadataJson();

// GET /v2/models/{name}[/versions/{v}].
std::string ModelMetadataJson(std::string_view model, std::string_view version);

// POST /v2/models/{name}[/versions/{v}]/infer. Returns true and the response body in *out, or
// false and the reason in *error (answered as 400).
bool InferResponseJson(std::string_view model, std::string_view version, std::string_view body,
                       std::string* out, std::string* error);

// POST /v1/models/{name}:predict: {"instances": [...]} -> {"predictions": [...]}.
bool PredictResponseJson(std::string_view body, std::string* out, std::string* error);

// One event of POST /v2/models/{name}/generate_stream: `data: {...}\n\n`.
std::string GenerateEvent(std::string_view model, int index, bool last);

}  // namespace lagscale::testserver
