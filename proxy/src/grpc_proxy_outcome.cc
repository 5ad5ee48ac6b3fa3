#include "grpc_proxy_outcome.h"

#include <string>

namespace lagscale::proxy::internal {
namespace {

using metrics::Outcome;

// gRPC's client-side codes (RESOURCE_EXHAUSTED is its 429: the HTTP side counts 429 the same).
bool IsClientCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

}  // namespace

metrics::Outcome AbandonedOutcome(grpc::StatusCode code,
                                  std::chrono::system_clock::time_point deadline) {
  // A client whose deadline expires resets the stream itself, which can reach us just before our
  // own copy of the deadline (computed from grpc-timeout on arrival) fires: allow for that.
  constexpr auto kDeadlineSlack = std::chrono::milliseconds(50);
  if (code == grpc::StatusCode::DEADLINE_EXCEEDED ||
      std::chrono::system_clock::now() + kDeadlineSlack >= deadline) {
    return Outcome::kTimeout;
  }
  return Outcome::kClientAbort;
}

metrics::Outcome CodeOutcome(grpc::StatusCode code, bool made_by_proxy) {
  switch (code) {
    case grpc::StatusCode::OK:
      return Outcome::kSuccess;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Outcome::kTimeout;
    case grpc::StatusCode::UNAVAILABLE:
      return made_by_proxy ? Outcome::kUpstreamError : Outcome::kServerError;
    default:
      return IsClientCode(code) ? Outcome::kClientError : Outcome::kServerError;
  }
}

metrics::Outcome StatusOutcome(const grpc::Status& status, const grpc::ClientContext* upstream) {
  // UNAVAILABLE made by our own channel (refused, reset, closed) rather than sent by the server.
  // The debug string is built on demand: only read it when it matters.
  const bool made_by_proxy =
      status.error_code() == grpc::StatusCode::UNAVAILABLE && upstream &&
      upstream->debug_error_string().find("received from peer") == std::string::npos;
  return CodeOutcome(status.error_code(), made_by_proxy);
}

}  // namespace lagscale::proxy::internal
