#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"

namespace lagscale::proxy {

namespace internal {
class GrpcEngine;
}

struct GrpcProxyOptions {
  // How calls are proxied. kCalls: a gRPC server call and a gRPC client call per proxied call
  // (gRPC's generic API). kFrames: HTTP/2 frames forwarded by nghttp2, reading only what the ledger
  // needs. Both keep the contract below.
  enum class Engine : uint8_t { kCalls, kFrames };
  std::string listen = "0.0.0.0:8001";        // host:port; port 0 = let the OS choose
  std::string upstream = "127.0.0.1:9001";    // host:port of the inference server (h2c)
  // Metadata keys naming the model, in order of precedence (case-insensitive).
  std::vector<std::string> model_headers = {"seldon-model"};
  // Time one attempt to connect to the upstream (TCP and the HTTP/2 handshake) gets. Calls made
  // while an attempt fails end as upstream_error, so it must allow for a slow, busy machine.
  std::chrono::milliseconds connect_timeout{3'000};
  Engine engine = Engine::kFrames;
  // A client connection with no call in progress for this long is closed with a GOAWAY (NO_ERROR),
  // as gRPC's own GRPC_ARG_MAX_CONNECTION_IDLE_MS does; a gRPC client reconnects for its next call.
  // It also ends a connection that never sends anything. 0 keeps idle connections forever.
  std::chrono::milliseconds idle_timeout{60'000};
};

// GrpcProxy: a generic gRPC passthrough (h2c in, h2c out) for every method of every service,
// unary and streaming. Messages are forwarded as raw bytes; metadata, trailers, status codes,
// deadlines and cancellation pass through. Each call is counted in the ledger:
//   - model: the model header in metadata, else field 1 of the request message for
//     inference.GRPCInferenceService/{ModelInfer,ModelStreamInfer,ModelReady,ModelMetadata};
//     otherwise unattributed;
//   - a non-ModelStreamInfer call is one arrival and one completion;
//   - in ModelStreamInfer every request message is an arrival and every response message completes
//     the oldest one (an error_message makes it a server_error); messages still in flight when the
//     stream ends complete with the stream's outcome;
//   - outcome by status: OK success; client CANCELLED client_abort; DEADLINE_EXCEEDED (or the
//     client's deadline passing) timeout; UNAVAILABLE produced by the proxy's own upstream
//     connection (not sent by the server) upstream_error; INVALID_ARGUMENT, NOT_FOUND,
//     ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION, OUT_OF_RANGE and
//     RESOURCE_EXHAUSTED (gRPC's 429) client_error; every other code server_error.
//
// Threads: one thread per ledger shard given. kCalls: every call is bound to one completion queue
// for its whole life (both its server side and its upstream side). kFrames: every client connection
// (with the upstream connection it opens, one per client connection) is bound to one I/O thread.
// Either way all of a call's events, and the RequestGuards they create and end, run on that one
// thread, which writes only its own shard.
//
// Thread safety: Start(), Shutdown() and the destructor from one controlling thread; port() from
// any thread after Start().
class GrpcProxy {
 public:
  // Uses ledger shards [first_shard, first_shard + shard_count), and the same shards of
  // `counters` if given (upstream_connect_failures counts calls that ended as upstream_error);
  // shard_count threads.
  // REQUIRES: shard_count >= 1, first_shard + shard_count <= ledger.shard_count() (and
  // counters->shard_count()); ledger and counters outlive the proxy.
  GrpcProxy(GrpcProxyOptions options, metrics::Ledger& ledger, size_t first_shard,
            size_t shard_count, metrics::ServerCounters* counters = nullptr);
  ~GrpcProxy();  // Shutdown(0) if still running
  GrpcProxy(const GrpcProxy&) = delete;
  GrpcProxy& operator=(const GrpcProxy&) = delete;

  // Binds the listen address (exclusively: a port another process listens on, even with
  // SO_REUSEPORT, is an error) and starts the threads. Throws std::runtime_error naming the
  // address and the reason when it cannot listen (a start-up error, never a data-plane one).
  void Start();
  // The port actually bound (useful with port 0). REQUIRES: Start() returned.
  int port() const;
  // "host:port" to print in the ready line: the listen host (127.0.0.1 for a wildcard) and the
  // real port. REQUIRES: Start() returned.
  std::string address() const;
  // Stops accepting calls, lets calls in progress finish for up to `drain`, cancels the rest
  // (each ends in the ledger, as client_abort unless it got a status), then joins the threads.
  // Idempotent.
  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(0));

  // Calls currently being proxied (all threads); for tests and drain logging.
  int64_t active_calls() const;

 private:
  std::unique_ptr<internal::GrpcEngine> impl_;
};

}  // namespace lagscale::proxy
