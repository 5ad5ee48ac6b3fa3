#pragma once

// Test knobs (test_knobs.h) read from a gRPC call's client metadata.

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "test_knobs.h"

namespace lagscale::testserver {

// INVALID_ARGUMENT naming the bad knob, or OK with *knobs filled.
inline grpc::Status ParseGrpcKnobs(const grpc::CallbackServerContext& context, TestKnobs* knobs) {
  const auto& metadata = context.client_metadata();
  std::string error = ParseTestKnobs(
      KnobProtocol::kGrpc,
      [&metadata](std::string_view name) -> std::optional<std::string_view> {
        auto it = metadata.find(grpc::string_ref(name.data(), name.size()));
        if (it == metadata.end()) return std::nullopt;
        return std::string_view(it->second.data(), it->second.size());
      },
      knobs);
  if (!error.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error);
  return grpc::Status::OK;
}

// The status x-test-status asked for (OK when unset).
inline grpc::Status KnobStatus(const TestKnobs& knobs) {
  if (knobs.status == 0) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(knobs.status),
                      "x-test-status " + std::to_string(knobs.status));
}

}  // namespace lagscale::testserver
