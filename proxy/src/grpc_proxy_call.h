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

#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"

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
  struct Tag {
    ProxyCall* call;
    Op op;
  };

  explicit ProxyCall(CallEnv& env);
  ~ProxyCall();
  void Handle(Op op, bool ok);
  void OnAccepted();
  // `have_message`: the first request message is already here (it is written right away).
  void StartUpstream(metrics::ModelId model, bool have_message);
  void UpWrite();
  void DownRead();
  void OnDownRead(bool ok);
  void OnUpWrite(bool ok);
  void UpRead();
  void OnUpRead(bool ok);
  void MaybeWritesDone();
  void MaybeFinishUpstream();
  void OnUpFinish();
  void StartUnary();
  void OnUnaryFinish();
  void CopyUpstreamMetadata(bool initial);
  void Finalize();
  metrics::Outcome FinalOutcome() const;
  metrics::ModelId ModelOfMessage(const grpc::ByteBuffer& message);
  bool HasErrorMessage(const grpc::ByteBuffer& message);
  void* tag(Op op) {
    ++pending_;
    return &tags_[op];
  }

  CallEnv& env_;
  Tag tags_[kOpCount];
  int pending_ = 0;

  grpc::GenericServerContext down_ctx_;
  grpc::GenericServerAsyncReaderWriter down_{&down_ctx_};
  std::unique_ptr<grpc::ClientContext> up_ctx_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> up_;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> up_unary_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::Status status_;

  bool stream_infer_ = false;  // ModelStreamInfer: per-message accounting
  bool unary_ = false;         // a unary V2 method: one message each way, the short path
  bool header_model_found_ = false;
  metrics::ModelId header_model_ = 0;
  bool done_ = false;
  bool up_started_ = false;
  bool up_start_pending_ = false;  // StartCall's tag not back yet: writes must wait
  bool up_write_waiting_ = false;  // request_ holds a message to write once started
  bool down_eof_ = false;          // the client half-closed (or left)
  bool up_write_pending_ = false;
  bool up_writes_done_ = false;  // WritesDone issued
  bool up_writes_done_pending_ = false;
  bool up_read_failed_ = false;
  bool up_finishing_ = false;
  bool up_finished_ = false;

  metrics::RequestGuard call_guard_;            // non-stream calls
  std::deque<metrics::RequestGuard> messages_;  // ModelStreamInfer: requests not yet answered
};

}  // namespace lagscale::proxy::internal
