// What the coordinator reads from Kubernetes API responses (coordinator/src/api_responses.cc)
// fed arbitrary bytes: the body of a scale-subresource GET or PATCH reply, an error Status, a
// Lease, and the Retry-After header value.
//
// Invariants checked on every input:
//  - nothing throws and nothing crashes (these run inside the actuation and election threads);
//  - a replica count read is either unknown (-1) or within [0, 2^31), and min/max likewise;
//  - an unusable scale object is reported as such, with a reason;
//  - a Lease's duration and transitions are never negative;
//  - Retry-After is -1 or a finite number of seconds within [0, kMaxRetryAfterSeconds].
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_checks.h"
#include "lagscale/coordinator/api_responses.h"

namespace {

namespace co = lagscale::coordinator;

using lagscale::fuzz::Fail;

void CheckScale(std::string_view body) {
  const co::TargetReading r = co::ReadScaleTarget(body);
  if (!r.ok && r.error.empty()) Fail("an unusable scale object without a reason");
  if (r.replicas < -1) Fail("replicas below -1");
  if (r.min_replicas && *r.min_replicas < 0) Fail("negative minReplicas");
  if (r.max_replicas && *r.max_replicas < 0) Fail("negative maxReplicas");
  if (co::ReadSpecReplicas(body) < -1) Fail("PATCH reply replicas below -1");
}

void CheckLease(std::string_view body) {
  const nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  const co::LeaseSpec spec = co::ReadLeaseSpec(doc);
  if (spec.duration_s < 0 || spec.transitions < 0) Fail("negative lease field");
  if (!spec.acquire_time.is_null() && !spec.acquire_time.is_string()) Fail("acquireTime type");
}

void CheckRetryAfter(std::string_view value) {
  const double s = co::ParseRetryAfter(value);
  if (s == -1) return;
  if (!std::isfinite(s) || s < 0 || s > co::kMaxRetryAfterSeconds) Fail("Retry-After range");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckScale(input);
  CheckLease(input);
  (void)co::ApiStatusMessage(input);
  CheckRetryAfter(input.substr(0, 64));
  return 0;
}
