#pragma once
// Internal to proxy/: the state machine of one proxied gRPC call.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lagscale/base/pending_ops.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/grpc_wire.h"

namespace lagscale::proxy::internal {

// Everything one completion-queue thread's calls share. Owned by GrpcProxy::Impl, outlives them.
struct CallEnv {
  grpc::AsyncGenericService* service = nullptr;
  grpc::ServerCompletionQueue* cq = nullptr;
  grpc::GenericStub* stub = nullptr;
  metrics::LedgerShard* shard = nullptr;
  metrics::ServerShardCounters* counters = nullptr;  // may be null
  metrics::ModelTable* table = nullptr;
  std::vector<std::string> model_headers;  // lower case, in order of precedence
  std::atomic<int64_t>* live = nullptr;
  std::atomic<bool>* accepting = nullptr;
  std::vector<std::string_view> chunks;  // scratch for scanning messages; this thread only
  std::vector<grpc::Slice> slices;       // idem
  // The ledger clock, read once per completion-queue event; calls begin and end on it.
  std::optional<metrics::TurnClock> turn_clock;
};

// ProxyCall: one downstream call and its upstream twin, driven by completion-queue events.
// Both sides use env.cq, so every event of a call (and every RequestGuard it holds) is handled by
// the one thread polling that queue. At most one operation of each kind is outstanding; the call
// deletes itself when none is left.
class ProxyCall {
 public:
  // Posts a new ProxyCall that waits for the next incoming call on env.cq.
  static void Listen(CallEnv& env);
  // Handles one event taken from a completion queue.
  static void Dispatch(void* tag, bool ok);

 private:
  enum Op : uint8_t {
    kAccepted,
    kDone,
    kDownRead,
    kDownSendMetadata,
    kDownWrite,
    kDownFinish,
    kUpStart,
    kUpMetadata,
    kUpRead,
    kUpWrite,
    kUpWritesDone,
    kUpFinish,
    kUpUnaryFinish,
    kOpCount,
  };
  using Ops = base::PendingOps<ProxyCall, Op>;

  // How the call is proxied, fixed by its method when it is accepted.
  enum class Kind : uint8_t {
    kGeneric,      // any method: a message pump in each direction, one arrival and completion
    kUnary,        // a unary V2 method: one message each way, the short path
    kStreamInfer,  // ModelStreamInfer: a pump, with per-message accounting
  };
  // The upstream call, in order.
  enum class Upstream : uint8_t {
    kIdle,       // not started (waiting for the first message to name the model)
    kStarting,   // StartCall's tag not back yet: writes must wait
    kOpen,       // started
    kFinishing,  // Finish issued
    kFinished,   // its status is in status_
  };
  // Requests, client -> upstream: one message at a time, then the half-close.
  enum class Requests : uint8_t {
    kIdle,        // no message in hand: reading the client's next one, or stopped
    kHeld,        // request_ holds a message to write once the upstream call has started
    kWriting,     // request_ is being written upstream
    kClientDone,  // the client half-closed (or left); WritesDone not issued yet
    kClosing,     // WritesDone issued
    kClosed,      // WritesDone completed
  };

  explicit ProxyCall(CallEnv& env);
  ~ProxyCall();
  void Handle(Op op, bool ok);
  // Event handlers, one per operation.
  void OnAccepted();
  void OnDone();
  void OnDownWrite(bool ok);
  void OnUpStart();
  void OnUpMetadata(bool ok);
  void OnDownRead(bool ok);
  void OnUpWrite(bool ok);
  void OnUpWritesDone();
  void OnUpRead(bool ok);
  void OnUpFinish();
  void OnUnaryFinish();
  // Steps.
  void ReadModelHeader();
  std::unique_ptr<grpc::ClientContext> UpstreamContext();
  // `have_message`: the first request message is already here (it is written right away).
  void StartUpstream(metrics::ModelId model, bool have_message);
  void StartUnary();
  void RejectEmptyUnary();
  void ForwardRequest();
  void UpWrite();
  void DownRead();
  void UpRead();
  void MaybeWritesDone();
  void MaybeFinishUpstream();
  void CopyUpstreamMetadata(bool initial);
  void Finalize();
  metrics::Outcome FinalOutcome() const;
  Field1Text Field1Of(const grpc::ByteBuffer& message);
  metrics::ModelId ModelOfMessage(const grpc::ByteBuffer& message);
  bool HasErrorMessage(const grpc::ByteBuffer& message);
  void* tag(Op op) { return ops_.Start(op); }

  CallEnv& env_;
  Ops ops_{this};

  grpc::GenericServerContext down_ctx_;
  grpc::GenericServerAsyncReaderWriter down_{&down_ctx_};
  std::unique_ptr<grpc::ClientContext> up_ctx_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> up_;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> up_unary_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::Status status_;

  Kind kind_ = Kind::kGeneric;
  std::optional<metrics::ModelId> header_model_;  // the model named by the call's metadata
  Upstream upstream_ = Upstream::kIdle;
  Requests requests_ = Requests::kIdle;
  bool responses_ended_ = false;  // an upstream read failed: no more responses, Finish may follow
  bool down_done_ = false;        // the downstream call's done notification has arrived

  metrics::RequestGuard call_guard_;            // non-stream calls
  std::deque<metrics::RequestGuard> messages_;  // ModelStreamInfer: requests not yet answered
};

}  // namespace lagscale::proxy::internal
