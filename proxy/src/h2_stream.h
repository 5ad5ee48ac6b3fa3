#pragma once
// Internal to proxy/: one gRPC call as the frames engine sees it: an HTTP/2 stream from the
// client, its twin on an upstream connection, the bytes in between and the call's accounting.
// Thread safety: belongs to its client connection's thread.

#include <boost/intrusive/list_hook.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "h2_message_reader.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/metrics/turn_clock.h"

namespace lagscale::proxy::internal {

// What the streams of one I/O thread share. Owned by the engine, outlives them.
struct FramesEnv {
  metrics::LedgerShard* shard = nullptr;
  metrics::ServerShardCounters* counters = nullptr;  // may be null
  metrics::ModelTable* table = nullptr;
  const std::vector<std::string>* model_headers = nullptr;  // lower case, by precedence
  std::atomic<int64_t>* live = nullptr;
  metrics::TurnClock* turn_clock = nullptr;
  size_t replay_bytes = 0;  // request bytes the thread's streams keep for a retry
};

struct Header {
  std::string name;
  std::string value;
};

// ByteQueue: bytes received on one side and not yet handed to the other side's session. Its size
// is bounded by the flow-control window the proxy grants, since a window is only reopened for
// bytes that left the queue.
class ByteQueue {
 public:
  void Append(std::string_view bytes);
  std::string_view Front() const { return std::string_view(data_).substr(head_); }
  void Drop(size_t n);
  size_t size() const { return data_.size() - head_; }
  bool empty() const { return size() == 0; }

 private:
  std::string data_;
  size_t head_ = 0;
};

struct UpstreamLink;

// H2Stream: the forwarding state (read and written by the client session) and the accounting of
// one call. The call is one arrival and one completion, except ModelStreamInfer: one arrival per
// request message, one completion per response message.
class H2Stream : public boost::intrusive::list_base_hook<
                     boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  // The upstream twin, in order.
  enum class Upstream : uint8_t {
    kWaiting,  // not submitted: waiting for a connection, or for the model to fail it
    kOpen,     // submitted on `link`
    kDone,     // closed, reset, or never to be opened
  };
  // The response to the client, in order.
  enum class Response : uint8_t {
    kNone,     // nothing submitted
    kStarted,  // headers submitted, DATA flowing as it comes
    kEnding,   // the upstream finished: send what is queued, then the trailers
    kEnded,    // END_STREAM sent (or a trailers-only response submitted)
  };

  H2Stream(FramesEnv& env, int32_t id);
  ~H2Stream();  // ends whatever the ledger still holds as client_abort; leaves `live`
  H2Stream(const H2Stream&) = delete;
  H2Stream& operator=(const H2Stream&) = delete;

  // Accounting, fed as the frames pass.
  void AddRequestHeader(std::string_view name, std::string_view value);
  void OnRequestHeadersDone();
  void OnRequestBytes(std::string_view bytes);
  void OnRequestEnd();
  void OnResponseHeader(std::string_view name, std::string_view value);
  void OnResponseBytes(std::string_view bytes);
  // True once failing the call would still count it right: its model is known, or can no
  // longer be learned (the V2 methods name it in their first message).
  bool Attributed() const;
  // Ends every arrival of the call in the ledger. `shutdown`: the proxy is cancelling it.
  void Finalize(bool shutdown);

  const int32_t id;
  int32_t up_id = 0;
  UpstreamLink* link = nullptr;
  Upstream upstream = Upstream::kWaiting;
  Response response = Response::kNone;
  bool request_ended = false;    // END_STREAM from the client
  bool client_reset = false;     // the client's stream closed before our END_STREAM
  bool upstream_reset = false;   // the upstream reset the stream without a status
  bool upstream_refused = false; // ... with REFUSED_STREAM: it never saw the call
  bool proxy_status = false;     // status_ was made by the proxy's upstream connection
  std::optional<int> status;     // grpc-status the client gets
  // Set when the upstream failed before the call's model was known: the failure is answered once
  // the first message (or the end of the request) names it.
  const char* pending_failure = nullptr;
  size_t header_bytes = 0;       // request header list size so far (limit)
  std::vector<Header> request_headers;
  // The upstream's response headers until they are forwarded, then its trailers until sent.
  std::vector<Header> upstream_headers;
  ByteQueue to_upstream;
  ByteQueue to_client;
  // A stream the upstream refused (REFUSED_STREAM, or past its GOAWAY: RFC 9113 section 8.7, it
  // was never processed) is sent once more on a new connection, as a client would retry it. For
  // that, request_headers and the request bytes handed to the upstream are kept until the
  // response starts, up to kReplayLimit per stream and kThreadReplayLimit per I/O thread (so a
  // client cannot make the proxy hold more than that); past either, or once retried, a refused
  // stream fails with UNAVAILABLE instead.
  static constexpr size_t kReplayLimit = 64 * 1024;
  static constexpr size_t kThreadReplayLimit = 4 * 1024 * 1024;
  bool replayable() const { return replayable_; }
  void KeepForReplay(std::string_view bytes);
  void StopReplay();
  // The bytes to send again, and no further retry.
  std::string TakeReplay();
  size_t replayed = 0;  // bytes at the front of to_upstream sent before (their window reopened)

 private:
  enum class Kind : uint8_t {
    kGeneric,      // any method: one arrival when it starts
    kBodyNamed,    // ModelInfer, ModelReady, ModelMetadata: one arrival at the first message
    kStreamInfer,  // ModelStreamInfer: an arrival per request message
  };
  void SetPath(std::string_view path);
  void SetModelHeader(std::string_view name, std::string_view value);
  void BeginCall(metrics::ModelId model);
  metrics::ModelId ModelOf(const Field1Text& field1) const;
  metrics::Outcome FinalOutcome(bool shutdown) const;
  int64_t Now() { return env_.turn_clock->NowNs(); }

  FramesEnv& env_;
  Kind kind_ = Kind::kGeneric;
  std::optional<metrics::ModelId> header_model_;
  size_t header_rank_ = SIZE_MAX;  // precedence of the model header that set header_model_
  std::chrono::system_clock::time_point deadline_ = std::chrono::system_clock::time_point::max();
  Inflater::Encoding request_encoding_ = Inflater::Encoding::kNone;
  std::optional<GrpcMessageReader> requests_;   // only where the ledger needs message bounds
  std::optional<GrpcMessageReader> responses_;  // idem
  bool headers_done_ = false;  // a stream the client never finished opening is not a call
  bool replayable_ = true;
  std::string replay_;
  bool counted_ = false;                        // kGeneric / kBodyNamed: call_guard_ began
  metrics::RequestGuard call_guard_;
  std::deque<metrics::RequestGuard> messages_;  // ModelStreamInfer: requests not yet answered
};

}  // namespace lagscale::proxy::internal
