#include "grpc_proxy_call.h"

#include <string_view>

#include "grpc_proxy_outcome.h"

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

}  // namespace

void ProxyCall::Listen(CallEnv& env) {
  auto* call = new ProxyCall(env);
  // Must precede RequestCall; the done tag is only delivered for calls that were accepted.
  call->down_ctx_.AsyncNotifyWhenDone(call->tag(kDone));
  env.service->RequestCall(&call->down_ctx_, &call->down_, env.cq, env.cq, call->tag(kAccepted));
}

void ProxyCall::Dispatch(void* tag, bool ok) {
  const Ops::Tag& t = Ops::Returned(tag);
  ProxyCall* call = t.ops->owner();
  if (t.op == kAccepted && !ok) {  // the server is shutting down; this call never existed
    delete call;
    return;
  }
  call->Handle(t.op, ok);
  if (call->ops_.Settled()) call->Finalize();
}

ProxyCall::ProxyCall(CallEnv& env) : env_(env) {}

ProxyCall::~ProxyCall() = default;

void ProxyCall::Handle(Op op, bool ok) {
  switch (op) {
    case kAccepted:
      return OnAccepted();
    case kDone:
      return OnDone();
    case kDownRead:
      return OnDownRead(ok);
    case kDownSendMetadata:
      return UpRead();
    case kDownWrite:
      return OnDownWrite(ok);
    case kDownFinish:
      return;
    case kUpStart:
      return OnUpStart();
    case kUpMetadata:
      return OnUpMetadata(ok);
    case kUpRead:
      return OnUpRead(ok);
    case kUpWrite:
      return OnUpWrite(ok);
    case kUpWritesDone:
      return OnUpWritesDone();
    case kUpFinish:
      return OnUpFinish();
    case kUpUnaryFinish:
      return OnUnaryFinish();
    case kOpCount:
      return;
  }
}

void ProxyCall::OnAccepted() {
  env_.live->fetch_add(1, std::memory_order_relaxed);
  if (env_.accepting->load(std::memory_order_relaxed)) Listen(env_);
  const std::string& method = down_ctx_.method();
  // Every other method of the V2 service is unary (the protocol says so), which allows the
  // short path: one upstream operation instead of a message pump in each direction.
  if (method == "/inference.GRPCInferenceService/ModelStreamInfer") {
    kind_ = Kind::kStreamInfer;
  } else if (method.starts_with(kService)) {
    kind_ = Kind::kUnary;
  }
  ReadModelHeader();
  // Without a header, V2 calls are attributed from their first message, so the upstream call
  // starts once it is here; any other call starts upstream at once (it may be a stream whose
  // server speaks first).
  if (kind_ != Kind::kUnary && (header_model_ || !NamesModelInBody(method))) {
    StartUpstream(header_model_.value_or(env_.table->unattributed()), false);
  }
  DownRead();
}

// The first of the configured keys that the call carries names the model.
void ProxyCall::ReadModelHeader() {
  const auto& metadata = down_ctx_.client_metadata();
  for (const std::string& key : env_.model_headers) {
    const auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
    if (it == metadata.end()) continue;
    header_model_ = env_.table->Resolve(std::string_view(it->second.data(), it->second.size()));
    return;
  }
}

void ProxyCall::OnDone() {
  down_done_ = true;
  // Client cancellation (or its deadline) reaches the upstream at once.
  if (down_ctx_.IsCancelled() && upstream_ != Upstream::kIdle && upstream_ != Upstream::kFinished) {
    up_ctx_->TryCancel();
  }
}

void ProxyCall::OnDownWrite(bool ok) {
  if (!ok) up_ctx_->TryCancel();  // the client is gone; the upstream read below then fails
  UpRead();
}

void ProxyCall::OnUpStart() {
  upstream_ = Upstream::kOpen;
  if (requests_ == Requests::kHeld) {
    UpWrite();
  } else if (requests_ == Requests::kClientDone) {
    MaybeWritesDone();
  }
}

void ProxyCall::OnUpMetadata(bool ok) {
  if (ok) {
    CopyUpstreamMetadata(true);
    down_.SendInitialMetadata(tag(kDownSendMetadata));
  } else {
    UpRead();
  }
}

// A context for the upstream call that carries the downstream call's deadline, cancellation and
// application metadata.
std::unique_ptr<grpc::ClientContext> ProxyCall::UpstreamContext() {
  auto ctx = grpc::ClientContext::FromServerContext(down_ctx_);
  for (const auto& [k, v] : down_ctx_.client_metadata()) {
    if (Forwardable(k)) {
      ctx->AddMetadata(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
  }
  return ctx;
}

void ProxyCall::StartUpstream(metrics::ModelId model, bool have_message) {
  if (kind_ != Kind::kStreamInfer) call_guard_ = env_.shard->Begin(model, env_.turn_clock->NowNs());
  up_ctx_ = UpstreamContext();
  up_ = env_.stub->PrepareCall(up_ctx_.get(), down_ctx_.method(), env_.cq);
  if (have_message) {
    // The call's headers leave with the first message, in one batch; StartCall() then performs
    // no operation and delivers no tag.
    upstream_ = Upstream::kOpen;
    up_ctx_->set_initial_metadata_corked(true);
    up_->StartCall(nullptr);
  } else {
    // The call starts now (it may be a stream whose server speaks first); writes wait for it.
    upstream_ = Upstream::kStarting;
    up_->StartCall(tag(kUpStart));
  }
  up_->ReadInitialMetadata(tag(kUpMetadata));
}

void ProxyCall::DownRead() { down_.Read(&request_, tag(kDownRead)); }

// Unary short path: the request is here; one upstream operation does the rest.
void ProxyCall::StartUnary() {
  const metrics::ModelId model = header_model_ ? *header_model_
                                 : NamesModelInBody(down_ctx_.method())
                                     ? ModelOfMessage(request_)
                                     : env_.table->unattributed();
  call_guard_ = env_.shard->Begin(model, env_.turn_clock->NowNs());
  up_ctx_ = UpstreamContext();
  up_unary_ = env_.stub->PrepareUnaryCall(up_ctx_.get(), down_ctx_.method(), request_, env_.cq);
  upstream_ = Upstream::kOpen;
  up_unary_->StartCall();
  up_unary_->Finish(&response_, &status_, tag(kUpUnaryFinish));
}

// Cancelled, or a client that closed without sending its one message.
void ProxyCall::RejectEmptyUnary() {
  call_guard_ = env_.shard->Begin(header_model_.value_or(env_.table->unattributed()),
                                  env_.turn_clock->NowNs());
  status_ = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request message missing");
  down_.Finish(status_, tag(kDownFinish));
}

void ProxyCall::OnUnaryFinish() {
  upstream_ = Upstream::kFinished;
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
  if (kind_ == Kind::kUnary) {
    if (ok) {
      StartUnary();
    } else {
      RejectEmptyUnary();
    }
    return;
  }
  if (responses_ended_) return;  // the upstream has ended the call; drop the rest
  if (!ok) {                     // half-close or cancellation
    requests_ = Requests::kClientDone;
    if (upstream_ == Upstream::kIdle) StartUpstream(env_.table->unattributed(), false);
    MaybeWritesDone();
    return;
  }
  ForwardRequest();
}

// request_ holds a client message: it is counted (ModelStreamInfer) and written upstream.
void ProxyCall::ForwardRequest() {
  const bool started = upstream_ != Upstream::kIdle;
  metrics::ModelId model = header_model_.value_or(0);
  if (!header_model_ && (kind_ == Kind::kStreamInfer || !started)) {
    model = ModelOfMessage(request_);
  }
  if (!started) StartUpstream(model, true);
  if (kind_ == Kind::kStreamInfer) {
    messages_.push_back(env_.shard->Begin(model, env_.turn_clock->NowNs()));
  }
  if (upstream_ == Upstream::kStarting) {
    requests_ = Requests::kHeld;
  } else {
    UpWrite();
  }
}

void ProxyCall::UpWrite() {
  requests_ = Requests::kWriting;
  up_->Write(request_, tag(kUpWrite));
}

void ProxyCall::OnUpWrite(bool ok) {
  requests_ = Requests::kIdle;
  if (ok && !responses_ended_) {
    DownRead();
  } else {
    MaybeFinishUpstream();
  }
}

void ProxyCall::MaybeWritesDone() {
  if (requests_ != Requests::kClientDone || responses_ended_ || upstream_ == Upstream::kStarting) {
    return;
  }
  requests_ = Requests::kClosing;
  up_->WritesDone(tag(kUpWritesDone));
}

void ProxyCall::OnUpWritesDone() {
  requests_ = Requests::kClosed;
  MaybeFinishUpstream();
}

// Upstream -> client: one message at a time.
void ProxyCall::UpRead() { up_->Read(&response_, tag(kUpRead)); }

void ProxyCall::OnUpRead(bool ok) {
  if (!ok) {
    responses_ended_ = true;
    MaybeFinishUpstream();
    return;
  }
  if (kind_ == Kind::kStreamInfer && !messages_.empty()) {
    // Responses answer requests in order; a response with no request left in flight (a decoupled
    // model answering more than once) completes nothing.
    messages_.front().End(HasErrorMessage(response_) ? Outcome::kServerError : Outcome::kSuccess,
                          env_.turn_clock->NowNs());
    messages_.pop_front();
  }
  down_.Write(response_, tag(kDownWrite));
}

// Finish() only once the responses have ended and no other upstream operation is outstanding
// (they share call state in gRPC).
void ProxyCall::MaybeFinishUpstream() {
  if (upstream_ != Upstream::kOpen || !responses_ended_ || requests_ == Requests::kWriting ||
      requests_ == Requests::kClosing) {
    return;
  }
  upstream_ = Upstream::kFinishing;
  up_->Finish(&status_, tag(kUpFinish));
}

void ProxyCall::OnUpFinish() {
  upstream_ = Upstream::kFinished;
  CopyUpstreamMetadata(false);
  down_.Finish(status_, tag(kDownFinish));
}

metrics::Outcome ProxyCall::FinalOutcome() const {
  if (down_done_ && down_ctx_.IsCancelled()) {
    return AbandonedOutcome(status_.error_code(), down_ctx_.deadline());
  }
  return StatusOutcome(status_, up_ctx_.get());
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

// Field 1 of `message`, read in place from its slices (not found if they cannot be had).
Field1Text ProxyCall::Field1Of(const grpc::ByteBuffer& message) {
  env_.slices.clear();
  env_.chunks.clear();
  if (!message.Dump(&env_.slices).ok()) return Field1Text{};
  for (const auto& s : env_.slices) {
    env_.chunks.emplace_back(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  Field1Text field = FindField1(env_.chunks);
  env_.slices.clear();
  return field;
}

metrics::ModelId ProxyCall::ModelOfMessage(const grpc::ByteBuffer& message) {
  const Field1Text name = Field1Of(message);
  // A name longer than the copy is longer than any valid name: Resolve() rejects it.
  if (!name.found || name.length == 0) return env_.table->unattributed();
  return env_.table->Resolve(name.text());
}

bool ProxyCall::HasErrorMessage(const grpc::ByteBuffer& message) {
  const Field1Text error = Field1Of(message);
  return error.found && error.length > 0;
}

}  // namespace lagscale::proxy::internal
