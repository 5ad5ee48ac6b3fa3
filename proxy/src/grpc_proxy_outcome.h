#pragma once
// Internal to proxy/: how the end of a proxied gRPC call maps to a ledger outcome (the table is
// in lagscale/proxy/grpc_proxy.h). Thread safety: pure functions.

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "lagscale/metrics/ledger.h"

namespace lagscale::proxy::internal {

// A call whose client did not get its status: the client left, or its deadline passed.
// `code`: the status the proxy holds for it; `deadline`: the client's deadline.
metrics::Outcome AbandonedOutcome(grpc::StatusCode code,
                                  std::chrono::system_clock::time_point deadline);

// A call whose client got `status`. `upstream`: the upstream call's context, null if none was
// made (it tells UNAVAILABLE sent by the server from UNAVAILABLE made by the proxy's channel).
metrics::Outcome StatusOutcome(const grpc::Status& status, const grpc::ClientContext* upstream);

// The same for a status code read off the wire (the frames engine). `made_by_proxy`: the proxy's
// own upstream connection produced the status (UNAVAILABLE then counts as upstream_error).
metrics::Outcome CodeOutcome(grpc::StatusCode code, bool made_by_proxy);

}  // namespace lagscale::proxy::internal
