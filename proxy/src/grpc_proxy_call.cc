#include "grpc_proxy_call.h"

#include <chrono>
#include <string_view>

#include "lagscale/proxy/grpc_wire.h"

namespace lagscale::proxy::internal {
namespace {

using metrics::Outcome;

constexpr std::string_view kService = "/inference.GRPCInferenceService/";

// Methods whose request message carries the model name in field 1.
bool NamesModelInBody(std::string_view method) {
  if (method.substr(0, kService.size()) != kService) return false;
  std::string_view name = method.substr(kService.size());
  return name == "ModelInfer" || name == "ModelStreamInfer" || name == "ModelReady" ||
         name == "ModelMetadata";
}

// Headers that gRPC itself manages on each hop; everything else is the application's and passes.
bool Forwardable(grpc::string_ref key) {
  std::string_view k(key.data(), key.size());
  if (k.empty() || k[0] == ':' || k.substr(0, 5) == "grpc-") return false;
  return k != "user-agent" && k != "te" && k != "content-type" && k != "host" &&
         k != "content-length" && k != "connection";
}

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

void ProxyCall::Listen(CallEnv& env) {
  auto* call = new ProxyCall(env);
  // Must precede RequestCall; the done tag is only delivered for calls that were accepted.
  call->down_ctx_.AsyncNotifyWhenDone(&call->tags_[kDone]);
  env.service->RequestCall(&call->down_ctx_, &call->down_, env.cq, env.cq, call->tag(kAccepted));
}

void ProxyCall::Dispatch(void* tag, bool ok) {
  auto* t = static_cast<Tag*>(tag);
  t->call->Handle(t->op, ok);
}

ProxyCall::ProxyCall(CallEnv& env) : env_(env) {
  for (int i = 0; i < kOpCount; ++i) tags_[i] = Tag{this, static_cast<Op>(i)};
}

ProxyCall::~ProxyCall() = default;

void ProxyCall::Handle(Op op, bool ok) {
  --pending_;
  switch (op) {
    case kAccepted:
      if (!ok) {  // the server is shutting down; this call never existed
        delete this;
        return;
      }
      ++pending_;  // the done tag is now armed
      env_.live->fetch_add(1, std::memory_order_relaxed);
      if (env_.accepting->load(std::memory_order_relaxed)) Listen(env_);
      OnAccepted();
      break;
    case kDone:
      done_ = true;
      // Client cancellation (or its deadline) reaches the upstream at once.
      if (down_ctx_.IsCancelled() && up_started_ && !up_finished_) up_ctx_->TryCancel();
      break;
    case kDownRead:
      OnDownRead(ok);
      break;
    case kDownSendMetadata:
      UpRead();
      break;
    case kDownWrite:
      if (!ok) up_ctx_->TryCancel();  // the client is gone; the upstream read below then fails
      UpRead();
      break;
    case kDownFinish:
      break;
    case kUpStart:
      up_start_pending_ = false;
      if (up_write_waiting_) {
        UpWrite();
      } else if (down_eof_) {
        MaybeWritesDone();
      }
      break;
    case kUpMetadata:
      if (ok) {
        CopyUpstreamMetadata(true);
        down_.SendInitialMetadata(tag(kDownSendMetadata));
      } else {
        UpRead();
      }
      break;
    case kUpRead:
      OnUpRead(ok);
      break;
    case kUpWrite:
      OnUpWrite(ok);
      break;
    case kUpWritesDone:
      up_writes_done_pending_ = false;
      MaybeFinishUpstream();
      break;
    case kUpFinish:
      OnUpFinish();
      break;
    case kUpUnaryFinish:
      OnUnaryFinish();
      break;
    case kOpCount:
      break;
  }
  if (pending_ == 0) Finalize();
}

void ProxyCall::OnAccepted() {
  const std::string& method = down_ctx_.method();
  stream_infer_ = method == "/inference.GRPCInferenceService/ModelStreamInfer";
  // Every other method of the V2 service is unary (the protocol says so), which allows the
  // short path: one upstream operation instead of a message pump in each direction.
  unary_ = !stream_infer_ && method.starts_with(kService);
  // The first of the configured keys that the call carries names the model.
  const auto& metadata = down_ctx_.client_metadata();
  for (const std::string& key : env_.model_headers) {
    const auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
    if (it == metadata.end()) continue;
    header_model_ = env_.table->Resolve(std::string_view(it->second.data(), it->second.size()));
    header_model_found_ = true;
    break;
  }
  // Without a header, V2 calls are attributed from their first message, so the upstream call
  // starts once it is here; any other call starts upstream at once (it may be a stream whose
  // server speaks first).
  if (!unary_ && (header_model_found_ || !NamesModelInBody(method))) {
    StartUpstream(header_model_found_ ? header_model_ : env_.table->unattributed(), false);
  }
  DownRead();
}

void ProxyCall::StartUpstream(metrics::ModelId model, bool have_message) {
  if (!stream_infer_) call_guard_ = env_.shard->Begin(model, env_.turn_clock->NowNs());
  // Propagates the deadline and cancellation of the downstream call.
  up_ctx_ = grpc::ClientContext::FromServerContext(down_ctx_);
  for (const auto& [k, v] : down_ctx_.client_metadata()) {
    if (Forwardable(k)) {
      up_ctx_->AddMetadata(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
  }
  up_ = env_.stub->PrepareCall(up_ctx_.get(), down_ctx_.method(), env_.cq);
  up_started_ = true;
  if (have_message) {
    // The call's headers leave with the first message, in one batch; StartCall() then performs
    // no operation and delivers no tag.
    up_ctx_->set_initial_metadata_corked(true);
    up_->StartCall(nullptr);
  } else {
    // The call starts now (it may be a stream whose server speaks first); writes wait for it.
    up_start_pending_ = true;
    up_->StartCall(tag(kUpStart));
  }
  up_->ReadInitialMetadata(tag(kUpMetadata));
}

void ProxyCall::DownRead() { down_.Read(&request_, tag(kDownRead)); }

// Unary short path: the request is here; one upstream operation does the rest.
void ProxyCall::StartUnary() {
  const metrics::ModelId model = header_model_found_ ? header_model_
                                 : NamesModelInBody(down_ctx_.method())
                                     ? ModelOfMessage(request_)
                                     : env_.table->unattributed();
  call_guard_ = env_.shard->Begin(model, env_.turn_clock->NowNs());
  up_ctx_ = grpc::ClientContext::FromServerContext(down_ctx_);
  for (const auto& [k, v] : down_ctx_.client_metadata()) {
    if (Forwardable(k)) {
      up_ctx_->AddMetadata(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
  }
  up_unary_ = env_.stub->PrepareUnaryCall(up_ctx_.get(), down_ctx_.method(), request_, env_.cq);
  up_started_ = true;
  up_unary_->StartCall();
  up_unary_->Finish(&response_, &status_, tag(kUpUnaryFinish));
}

void ProxyCall::OnUnaryFinish() {
  up_finished_ = true;
  CopyUpstreamMetadata(true);
  CopyUpstreamMetadata(false);
  if (status_.ok()) {
    down_.WriteAndFinish(response_, grpc::WriteOptions(), status_, tag(kDownFinish));
  } else {
    down_.Finish(status_, tag(kDownFinish));
  }
}

void ProxyCall::CopyUpstreamMetadata(bool initial) {
  const auto& md =
      initial ? up_ctx_->GetServerInitialMetadata() : up_ctx_->GetServerTrailingMetadata();
  for (const auto& [k, v] : md) {
    if (!Forwardable(k)) continue;
    std::string key(k.data(), k.size()), value(v.data(), v.size());
    if (initial) {
      down_ctx_.AddInitialMetadata(std::move(key), std::move(value));
    } else {
      down_ctx_.AddTrailingMetadata(std::move(key), std::move(value));
    }
  }
}

// Client -> upstream: one message at a time (read, write, read ...).
void ProxyCall::OnDownRead(bool ok) {
  if (unary_) {
    if (ok) {
      StartUnary();
    } else {  // cancelled, or a client that closed without sending its one message
      call_guard_ =
          env_.shard->Begin(header_model_found_ ? header_model_ : env_.table->unattributed(),
                            env_.turn_clock->NowNs());
      status_ = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request message missing");
      down_.Finish(status_, tag(kDownFinish));
    }
    return;
  }
  if (up_read_failed_) return;  // the upstream has ended the call; drop the rest
  if (!ok) {                    // half-close or cancellation
    down_eof_ = true;
    if (!up_started_) StartUpstream(env_.table->unattributed(), false);
    MaybeWritesDone();
    return;
  }
  metrics::ModelId model = header_model_;
  if (!header_model_found_ && (stream_infer_ || !up_started_)) model = ModelOfMessage(request_);
  if (!up_started_) StartUpstream(model, true);
  if (stream_infer_) messages_.push_back(env_.shard->Begin(model, env_.turn_clock->NowNs()));
  if (up_start_pending_) {
    up_write_waiting_ = true;
  } else {
    UpWrite();
  }
}

void ProxyCall::UpWrite() {
  up_write_waiting_ = false;
  up_write_pending_ = true;
  up_->Write(request_, tag(kUpWrite));
}

void ProxyCall::OnUpWrite(bool ok) {
  up_write_pending_ = false;
  if (ok && !up_read_failed_) {
    DownRead();
  } else {
    MaybeFinishUpstream();
  }
}

void ProxyCall::MaybeWritesDone() {
  if (up_writes_done_ || up_read_failed_ || up_write_pending_ || up_start_pending_) return;
  up_writes_done_ = true;
  up_writes_done_pending_ = true;
  up_->WritesDone(tag(kUpWritesDone));
}

// Upstream -> client: one message at a time.
void ProxyCall::UpRead() { up_->Read(&response_, tag(kUpRead)); }

void ProxyCall::OnUpRead(bool ok) {
  if (!ok) {
    up_read_failed_ = true;
    MaybeFinishUpstream();
    return;
  }
  if (stream_infer_ && !messages_.empty()) {
    // Responses answer requests in order; a response with no request left in flight (a decoupled
    // model answering more than once) completes nothing.
    messages_.front().End(HasErrorMessage(response_) ? Outcome::kServerError : Outcome::kSuccess,
                          env_.turn_clock->NowNs());
    messages_.pop_front();
  }
  down_.Write(response_, tag(kDownWrite));
}

void ProxyCall::MaybeFinishUpstream() {
  if (up_finishing_ || !up_read_failed_ || up_write_pending_ || up_writes_done_pending_ ||
      up_start_pending_) {
    return;
  }
  up_finishing_ = true;
  up_->Finish(&status_, tag(kUpFinish));
}

void ProxyCall::OnUpFinish() {
  up_finished_ = true;
  CopyUpstreamMetadata(false);
  down_.Finish(status_, tag(kDownFinish));
}

metrics::Outcome ProxyCall::FinalOutcome() const {
  const grpc::StatusCode code = status_.error_code();
  if (done_ && down_ctx_.IsCancelled()) {
    // The downstream call did not get its status: the client left, or its deadline passed. A
    // client whose deadline expires resets the stream itself, which can reach us just before our
    // own copy of the deadline (computed from grpc-timeout on arrival) fires: allow for that.
    constexpr auto kDeadlineSlack = std::chrono::milliseconds(50);
    if (code == grpc::StatusCode::DEADLINE_EXCEEDED ||
        std::chrono::system_clock::now() + kDeadlineSlack >= down_ctx_.deadline()) {
      return Outcome::kTimeout;
    }
    return Outcome::kClientAbort;
  }
  switch (code) {
    case grpc::StatusCode::OK:
      return Outcome::kSuccess;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Outcome::kTimeout;
    case grpc::StatusCode::UNAVAILABLE:
      // Made by our own channel (refused, reset, closed) rather than sent by the server.
      if (up_ctx_ &&
          up_ctx_->debug_error_string().find("received from peer") == std::string::npos) {
        return Outcome::kUpstreamError;
      }
      return Outcome::kServerError;
    default:
      return IsClientCode(code) ? Outcome::kClientError : Outcome::kServerError;
  }
}

void ProxyCall::Finalize() {
  const Outcome outcome = FinalOutcome();
  if (outcome == Outcome::kUpstreamError && env_.counters) {
    metrics::ServerShardCounters::Add(env_.counters->upstream_connect_failures);
  }
  const int64_t now = env_.turn_clock->NowNs();
  call_guard_.End(outcome, now);
  for (auto& guard : messages_) guard.End(outcome, now);
  messages_.clear();
  env_.live->fetch_sub(1, std::memory_order_relaxed);
  delete this;
}

metrics::ModelId ProxyCall::ModelOfMessage(const grpc::ByteBuffer& message) {
  env_.slices.clear();
  env_.chunks.clear();
  if (!message.Dump(&env_.slices).ok()) return env_.table->unattributed();
  for (const auto& s : env_.slices) {
    env_.chunks.emplace_back(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  Field1Text name = FindField1(env_.chunks);
  env_.slices.clear();
  // A name longer than the copy is longer than any valid name: Resolve() rejects it.
  if (!name.found || name.length == 0) return env_.table->unattributed();
  return env_.table->Resolve(name.text());
}

bool ProxyCall::HasErrorMessage(const grpc::ByteBuffer& message) {
  env_.slices.clear();
  env_.chunks.clear();
  if (!message.Dump(&env_.slices).ok()) return false;
  for (const auto& s : env_.slices) {
    env_.chunks.emplace_back(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  Field1Text error = FindField1(env_.chunks);
  env_.slices.clear();
  return error.found && error.length > 0;
}

}  // namespace lagscale::proxy::internal
