// The request side of a proxied HTTP/1.1 connection fed arbitrary client bytes (pipelined,
// chunked, malformed, truncated), through one proxy worker to an in-process upstream that answers
// every complete request with 200 (see proxy_harness.h).
//
// Invariants checked on every input:
//  - the ledger stays exact: every request that began ended exactly once (arrivals = completions
//    over the run, in-flight 0 for every model once the connection is gone, never negative);
//  - the proxy closes the connection once the client has left (nothing hangs);
//  - whatever the proxy forwards is valid HTTP/1.1 to a strict parser (no smuggling through it);
//  - a request ends as success exactly when the upstream received all of it and answered.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy_harness.h"

namespace {

using lagscale::fuzz::InvariantFailed;
using lagscale::fuzz::ProxyHarness;
using lagscale::fuzz::UpstreamAnswer;

ProxyHarness& Harness() {
  static ProxyHarness harness(
      [] {
        lagscale::proxy::ProxyConfig config;
        config.max_header_bytes = 2048;  // small, so 431 is in reach
        config.max_body_bytes = 4096;    // and 413
        return config;
      }(),
      [](const lagscale::proxy::RequestStream& request) {
        return UpstreamAnswer{request.is_head_method()
                                  ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                                  : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                              false};
      });
  return harness;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ProxyHarness::Result r = Harness().Run(input);
  using lagscale::metrics::Outcome;
  if (!r.upstream_parse_error.empty())
    InvariantFailed("proxy forwarded invalid HTTP", r.upstream_parse_error);
  if (!r.closed) InvariantFailed("proxy kept the connection open after the client left");
  if (r.delta.arrivals != r.delta.completions()) InvariantFailed("arrivals != completions");
  if (r.inflight_after != 0 || r.min_inflight_after != 0) InvariantFailed("in-flight not 0");
  if (r.delta.outcome(Outcome::kSuccess) != r.upstream_requests) {
    InvariantFailed("success completions != requests the upstream answered",
                    "success=" + std::to_string(r.delta.outcome(Outcome::kSuccess)) +
                        " upstream=" + std::to_string(r.upstream_requests));
  }
  return 0;
}
