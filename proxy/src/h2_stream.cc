#include "h2_stream.h"

#include <charconv>
#include <utility>

#include "grpc_proxy_outcome.h"

namespace lagscale::proxy::internal {
namespace {

using metrics::Outcome;

constexpr std::string_view kService = "/inference.GRPCInferenceService/";

// grpc-timeout: at most 8 digits and a unit (gRPC's HTTP/2 protocol); nullopt if malformed.
std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size() - 1, n);
  if (ec != std::errc() || end != value.data() + value.size() - 1) return std::nullopt;
  switch (value.back()) {
    case 'H':
      return std::chrono::hours(n);
    case 'M':
      return std::chrono::minutes(n);
    case 'S':
      return std::chrono::seconds(n);
    case 'm':
      return std::chrono::milliseconds(n);
    case 'u':
      return std::chrono::microseconds(n);
    case 'n':
      return std::chrono::nanoseconds(n);
    default:
      return std::nullopt;
  }
}

}  // namespace

void ByteQueue::Append(std::string_view bytes) {
  if (head_ == data_.size()) {
    data_.clear();
    head_ = 0;
  }
  data_.append(bytes);
}

void ByteQueue::Drop(size_t n) {
  head_ += n;
  if (head_ == data_.size()) {
    data_.clear();
    head_ = 0;
  } else if (head_ > 65536 && head_ * 2 > data_.size()) {
    data_.erase(0, head_);  // keep the queue from growing at its front
    head_ = 0;
  }
}

H2Stream::H2Stream(FramesEnv& env, int32_t stream_id) : id(stream_id), env_(env) {
  env_.live->fetch_add(1, std::memory_order_relaxed);
}

H2Stream::~H2Stream() {
  StopReplay();
  Finalize(true);
  env_.live->fetch_sub(1, std::memory_order_relaxed);
}

void H2Stream::KeepForReplay(std::string_view bytes) {
  if (!replayable_) return;
  if (replay_.size() + bytes.size() > kReplayLimit ||
      env_.replay_bytes + bytes.size() > kThreadReplayLimit) {
    StopReplay();
    return;
  }
  replay_.append(bytes);
  env_.replay_bytes += bytes.size();
}

void H2Stream::StopReplay() {
  replayable_ = false;
  env_.replay_bytes -= replay_.size();
  std::string().swap(replay_);
  std::vector<Header>().swap(request_headers);
}

std::string H2Stream::TakeReplay() {
  replayable_ = false;
  env_.replay_bytes -= replay_.size();
  return std::exchange(replay_, std::string());
}

void H2Stream::AddRequestHeader(std::string_view name, std::string_view value) {
  header_bytes += name.size() + value.size() + 32;  // RFC 9113's accounting of a header's size
  if (name == ":path") SetPath(value);
  if (name == "grpc-timeout") {
    if (auto timeout = ParseGrpcTimeout(value)) {
      deadline_ = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(*timeout);
    }
  }
  if (name == "grpc-encoding") request_encoding_ = Inflater::Parse(value);
  SetModelHeader(name, value);
  request_headers.push_back(Header{std::string(name), std::string(value)});
}

void H2Stream::SetPath(std::string_view path) {
  if (!path.starts_with(kService)) return;
  const std::string_view method = path.substr(kService.size());
  if (method == "ModelStreamInfer") {
    kind_ = Kind::kStreamInfer;
  } else if (method == "ModelInfer" || method == "ModelReady" || method == "ModelMetadata") {
    kind_ = Kind::kBodyNamed;
  }
}

// The first of the configured keys that the call carries names the model (HTTP/2 header names
// arrive in lower case, as the configured ones are kept).
void H2Stream::SetModelHeader(std::string_view name, std::string_view value) {
  const auto& keys = *env_.model_headers;
  for (size_t rank = 0; rank < keys.size() && rank < header_rank_; ++rank) {
    if (keys[rank] != name) continue;
    header_rank_ = rank;
    header_model_ = env_.table->Resolve(value);
    return;
  }
}

void H2Stream::OnRequestHeadersDone() {
  headers_done_ = true;
  if (kind_ == Kind::kStreamInfer) {
    requests_.emplace(/*scan_field1=*/!header_model_);
    responses_.emplace(/*scan_field1=*/true);  // error_message is field 1 of each response
  } else if (kind_ == Kind::kBodyNamed && !header_model_) {
    requests_.emplace(/*scan_field1=*/true);
  } else {
    BeginCall(header_model_.value_or(env_.table->unattributed()));
  }
  if (requests_) requests_->set_encoding(request_encoding_);
}

void H2Stream::BeginCall(metrics::ModelId model) {
  counted_ = true;
  call_guard_ = env_.shard->Begin(model, Now());
}

metrics::ModelId H2Stream::ModelOf(const Field1Text& field1) const {
  if (header_model_) return *header_model_;
  // A name longer than the copy is longer than any valid name: Resolve() rejects it.
  if (!field1.found || field1.length == 0) return env_.table->unattributed();
  return env_.table->Resolve(field1.text());
}

void H2Stream::OnRequestBytes(std::string_view bytes) {
  if (!requests_) return;
  requests_->Feed(bytes, [this](const GrpcMessageReader::Message& message) {
    if (kind_ == Kind::kStreamInfer) {
      messages_.push_back(env_.shard->Begin(ModelOf(message.field1), Now()));
    } else if (!counted_) {
      BeginCall(ModelOf(message.field1));
    }
  });
  if (counted_) requests_.reset();  // the one message that names the model has been read
}

void H2Stream::OnRequestEnd() {
  request_ended = true;
  if (headers_done_ && kind_ != Kind::kStreamInfer && !counted_) {
    BeginCall(header_model_.value_or(env_.table->unattributed()));
  }
}

void H2Stream::OnResponseHeader(std::string_view name, std::string_view value) {
  if (name == "grpc-encoding" && responses_) responses_->set_encoding(Inflater::Parse(value));
  if (name != "grpc-status") return;
  int code = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
  // An unparsable status is gRPC's UNKNOWN, as a gRPC client reads it.
  status = (ec == std::errc() && end == value.data() + value.size()) ? code : 2;
}

void H2Stream::OnResponseBytes(std::string_view bytes) {
  if (!responses_) return;
  responses_->Feed(bytes, [this](const GrpcMessageReader::Message& message) {
    // Responses answer requests in order; one with no request left in flight (a decoupled model
    // answering more than once) completes nothing.
    if (messages_.empty()) return;
    const bool error = message.field1.found && message.field1.length > 0;
    messages_.front().End(error ? Outcome::kServerError : Outcome::kSuccess, Now());
    messages_.pop_front();
  });
}

bool H2Stream::Attributed() const {
  if (request_ended) return true;
  return kind_ == Kind::kStreamInfer ? !messages_.empty() : counted_;
}

metrics::Outcome H2Stream::FinalOutcome(bool shutdown) const {
  const bool delivered = response == Response::kEnded && !client_reset;
  if (status && (delivered || (shutdown && !client_reset))) {
    return CodeOutcome(static_cast<grpc::StatusCode>(*status), proxy_status);
  }
  if (shutdown) return Outcome::kClientAbort;
  if (upstream_reset) {
    if (upstream_refused) return Outcome::kUpstreamError;
    return std::chrono::system_clock::now() >= deadline_ ? Outcome::kTimeout
                                                         : Outcome::kServerError;
  }
  return AbandonedOutcome(static_cast<grpc::StatusCode>(status.value_or(2)), deadline_);
}

void H2Stream::Finalize(bool shutdown) {
  if (!headers_done_) return;
  if (kind_ != Kind::kStreamInfer && !counted_) {
    BeginCall(header_model_.value_or(env_.table->unattributed()));
  }
  if (!call_guard_.active() && messages_.empty()) return;
  const Outcome outcome = FinalOutcome(shutdown);
  if (outcome == Outcome::kUpstreamError && env_.counters) {
    metrics::ServerShardCounters::Add(env_.counters->upstream_connect_failures);
  }
  const int64_t now = Now();
  call_guard_.End(outcome, now);
  for (auto& guard : messages_) guard.End(outcome, now);
  messages_.clear();
}

}  // namespace lagscale::proxy::internal
