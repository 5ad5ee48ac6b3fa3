#pragma once

// What the coordinator reads out of Kubernetes API and webhook responses. Response bodies and
// headers come from the network, so nothing here trusts them: every reader returns a value or a
// stated "absent" for any input (wrong types, huge numbers, invalid JSON, any bytes), never throws.
// Kept apart from the HTTP client so that tests/fuzz/kube_response_fuzz.cc can reach it.
// Thread safety: free functions without shared state.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "lagscale/coordinator/actuator.h"

namespace lagscale::coordinator {

// The longest Retry-After the coordinator honours; a larger value waits this long.
inline constexpr double kMaxRetryAfterSeconds = 600;

// Retry-After as delta-seconds (RFC 9110: digits only), capped at kMaxRetryAfterSeconds; -1 when
// absent or not delta-seconds (an HTTP date included: the API server sends seconds).
double ParseRetryAfter(std::string_view value);

// A target object's (or scale subresource's) spec.replicas and spec.minReplicas/maxReplicas.
// ok == false with `error` set when the body is not a JSON object with a `spec` object; a field
// that is absent, not an integer or outside [0, 2^31) is left unset.
TargetReading ReadScaleTarget(std::string_view body);

// spec.replicas of a scale subresource in a PATCH reply; -1 when absent or unusable.
int ReadSpecReplicas(std::string_view body);

// The `message` of a Kubernetes Status object (how the API server explains an error); "" if none.
std::string ApiStatusMessage(std::string_view body);

// The fields of a coordination.k8s.io/v1 Lease's spec that leader election reads. Absent or
// mistyped fields read as empty/0, exactly as an absent Lease would.
struct LeaseSpec {
  std::string holder;             // spec.holderIdentity
  int64_t duration_s = 0;         // spec.leaseDurationSeconds, within [0, 2^31)
  int64_t transitions = 0;        // spec.leaseTransitions, within [0, 2^31)
  nlohmann::json acquire_time;    // spec.acquireTime when it is a string, else null
};
LeaseSpec ReadLeaseSpec(const nlohmann::json& lease);

}  // namespace lagscale::coordinator
