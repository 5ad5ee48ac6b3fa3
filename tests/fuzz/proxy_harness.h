#pragma once

// ProxyHarness: one HTTP proxy I/O worker (proxy/src/worker.h, the unit HttpProxy runs per thread)
// between an in-process client and an in-process upstream, all on one io_context run by the
// calling thread. Each input is pushed through until nothing moves any more (no handler runs
// within a short wait), so a run is repeatable: no other thread races it and no proxy timer fires
// (they are seconds to minutes long). The upstream parses what the proxy forwards with the
// project's strict request parser and answers each complete request as the fuzz target says.
// Thread safety: none; one harness per fuzzing thread.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/config.h"
#include "lagscale/proxy/request_stream.h"

namespace lagscale::fuzz {

// What the upstream does with one complete request.
struct UpstreamAnswer {
  std::string bytes;   // written back as they are
  bool close = false;  // then the upstream closes the connection
};

class ProxyHarness {
 public:
  using Answerer = std::function<UpstreamAnswer(const proxy::RequestStream& request)>;

  struct Result {
    std::string to_client;             // every byte the client received
    bool closed = false;               // the proxy closed the client connection after its EOF
    size_t upstream_requests = 0;      // complete requests the upstream parsed (and answered)
    std::vector<bool> upstream_heads;  // per upstream request: was it HEAD
    std::string upstream_parse_error;  // non-empty: the proxy forwarded invalid HTTP/1.1
    metrics::ModelStats delta;         // ledger totals over every model id, this run only
    int64_t inflight_after = 0;        // summed over every model id, after the run
    int64_t min_inflight_after = 0;    // the lowest of any one model id
  };

  ProxyHarness(const proxy::ProxyConfig& config, Answerer answerer);
  ~ProxyHarness();
  ProxyHarness(const ProxyHarness&) = delete;
  ProxyHarness& operator=(const ProxyHarness&) = delete;

  // Connects a client, sends `client_bytes`, lets everything settle, half-closes the client,
  // waits (bounded) for the proxy to close, then drops every upstream connection.
  Result Run(std::string_view client_bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Prints `what` with the input and aborts, so libFuzzer records the input as a crash.
[[noreturn]] void InvariantFailed(const char* what, std::string_view detail = {});

}  // namespace lagscale::fuzz
