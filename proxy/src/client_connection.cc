#include "client_connection.h"

#include <algorithm>
#include <cstring>

#include "lagscale/proxy/model_router.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using metrics::Outcome;

ClientConnection::ClientConnection(Worker& worker, asio::ip::tcp::socket socket)
    : worker_(worker),
      client_(std::move(socket)),
      request_({worker.config().max_header_bytes, worker.config().max_body_bytes},
               &worker.config().routing),
      response_(worker.config().max_header_bytes),
      client_timer_(worker.io()),
      client_tick_(std::min({worker.config().header_timeout, worker.config().idle_timeout,
                             worker.config().client_write_timeout})),
      upstream_timer_(worker.io()) {}

ClientConnection::~ClientConnection() {
  worker_.buffers().Release(std::move(in_));
  worker_.buffers().Release(std::move(up_in_));
}

void ClientConnection::Start() {
  error_code ec;
  client_.set_option(asio::ip::tcp::no_delay(true), ec);
  client_.non_blocking(true, ec);  // for the direct writes in WriteClient()
  client_deadline_ = Clock::now() + worker_.config().idle_timeout;
  ArmClientTimer();
  MaybeReadClient();
}

void ClientConnection::OnDrain() {
  if (closed()) return;
  if (phase_ != Phase::kExchange && !request_.reading_head()) {
    Close();
    return;
  }
  response_.RequestClientClose();
}

// Parses what the client sent and moves the exchange on as far as it can without waiting.
void ClientConnection::Process() {
  // While the proxy's own error answer goes out, or after it, nothing the client sends is parsed.
  if (phase_ != Phase::kIdle && phase_ != Phase::kExchange) return;
  if (!request_.message_done() && !request_.failed() && in_begin_ < in_end_) {
    const bool was_reading = request_.reading_head() || request_.head_done();
    in_begin_ += request_.Feed(in_.get() + in_begin_, in_end_ - in_begin_, to_upstream_);
    if (!was_reading && request_.reading_head()) {
      client_deadline_ = Clock::now() + worker_.config().header_timeout;
    }
    if (request_.head_done() && phase_ == Phase::kIdle && !request_.failed()) StartExchange();
    if (phase_ == Phase::kExchange) BeginWhenRouted();
  }
  if (request_.failed()) {
    OnRequestError();
    return;
  }
  if (phase_ == Phase::kExchange) {
    if (!upstream_) {
      if (connect_ == ConnectPhase::kIdle) AcquireUpstream();
      return;
    }
    if (connect_ != ConnectPhase::kIdle) return;
    if (!to_upstream_.empty()) {
      if (!upstream_writing_) FlushUpstream();
      return;
    }
  }
  MaybeReadClient();
}

void ClientConnection::StartExchange() {
  const std::string_view header = request_.model_header();
  const int64_t ledger_now = worker_.LedgerNowNs();
  phase_ = Phase::kExchange;
  exchange_ = Exchange{};
  exchange_.start = Clock::now();
  exchange_.awaiting_model = request_.model_in_body();
  if (!exchange_.awaiting_model) {
    guard_ = worker_.ledger().Begin(
        RouteModel(worker_.table(), !header.empty(), header, request_.target()), ledger_now);
  }
  exchange_.openai = request_.openai();
  if (exchange_.openai) exchange_.arrival_ns = ledger_now;
  // A body still to come must keep coming: the idle timeout bounds silence mid-body.
  client_deadline_ = request_.message_done() ? Clock::time_point::max()
                                             : exchange_.start + worker_.config().idle_timeout;
  StartResponse();
}

void ClientConnection::StartResponse() {
  response_.Start(request_.is_head_method(), request_.http11(),
                  !request_.keep_alive() || worker_.draining(), exchange_.openai);
}

// A request whose model is in its body begins once the body told (see the class comment).
void ClientConnection::BeginWhenRouted() {
  if (!exchange_.awaiting_model) return;
  switch (request_.body_model()) {
    case JsonModelScanner::Result::kScanning:
      return;
    case JsonModelScanner::Result::kFound:
      guard_ = worker_.ledger().Begin(worker_.table().Resolve(request_.body_model_name()),
                                      worker_.LedgerNowNs());
      break;
    case JsonModelScanner::Result::kNone:
      guard_ = worker_.ledger().Begin(worker_.table().unattributed(), worker_.LedgerNowNs());
      break;
  }
  exchange_.awaiting_model = false;
}

// The exchange's guard, begun (unattributed) first if its model is still unknown: whatever ends
// or judges the exchange goes through here.
metrics::RequestGuard& ClientConnection::Guard() {
  if (exchange_.awaiting_model) {
    guard_ = worker_.ledger().Begin(worker_.table().unattributed(), worker_.LedgerNowNs());
    exchange_.awaiting_model = false;
  }
  return guard_;
}

void ClientConnection::RecordFirstOutput() {
  if (!exchange_.openai || exchange_.first_output_seen || !response_.usage().first_output()) {
    return;
  }
  exchange_.first_output_seen = true;
  Guard().RecordFirstByte(exchange_.arrival_ns);
}

// What the answer to an OpenAI request showed: its usage tokens, events too large to scan, and
// for a complete answer without a body its end as the first output.
void ClientConnection::AccountAnswer(bool complete) {
  if (!exchange_.openai) return;
  const UsageScanner& usage = response_.usage();
  if (complete && !exchange_.first_output_seen) {
    exchange_.first_output_seen = true;
    Guard().RecordFirstByte(exchange_.arrival_ns);
  }
  if (usage.has_usage()) Guard().AddTokens(usage.prompt_tokens(), usage.completion_tokens());
  if (usage.skipped_events() > 0) {
    worker_.counters().Add(worker_.counters().answer_events_skipped, usage.skipped_events());
  }
  exchange_.openai = false;  // counted once
}

void ClientConnection::MaybeReadClient() {
  if (client_reading_ || closed()) return;
  // Back-pressure: while a request streams, read more only once the last piece went upstream.
  if (phase_ == Phase::kExchange && !request_.message_done() && !to_upstream_.empty()) return;
  client_reading_ = true;
  if (in_begin_ == in_end_) {
    // Nothing left to parse: the buffer goes back to the pool and the connection waits for bytes
    // without one; a keep-alive connection between requests holds no buffer.
    in_begin_ = in_end_ = 0;
    worker_.buffers().Release(std::move(in_));
    client_.async_wait(asio::ip::tcp::socket::wait_read,
                       OnSlab(worker_.slab(), [self = shared_from_this()](const error_code& ec) {
                         self->OnClientReadable(ec);
                       }));
    return;
  }
  if (in_end_ == BufferPool::kBytes && in_begin_ > 0) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_end_ == BufferPool::kBytes) {  // full of pipelined requests: they wait their turn
    client_reading_ = false;
    return;
  }
  client_.async_read_some(
      asio::buffer(in_.get() + in_end_, BufferPool::kBytes - in_end_),
      OnSlab(worker_.slab(), [self = shared_from_this()](const error_code& ec, size_t n) {
        self->OnClientRead(ec, n);
      }));
}

// Bytes (or the client's EOF) arrived while no buffer was held: take one and read them now.
void ClientConnection::OnClientReadable(const error_code& ec) {
  if (ec || closed()) {
    OnClientRead(ec, 0);
    return;
  }
  in_ = worker_.buffers().Acquire();
  error_code read_ec;
  const size_t n = client_.read_some(asio::buffer(in_.get(), BufferPool::kBytes), read_ec);
  if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) {
    client_reading_ = false;  // a spurious wake-up: wait again
    MaybeReadClient();
    return;
  }
  OnClientRead(read_ec, n);
}

void ClientConnection::OnClientRead(const error_code& ec, size_t n) {
  client_reading_ = false;
  if (closed()) return;
  if (phase_ == Phase::kAnswering || phase_ == Phase::kLingering) {
    if (ec) {
      Close();
    } else {
      in_begin_ = in_end_ = 0;  // discarded
      MaybeReadClient();
    }
    return;
  }
  if (ec) {
    // The client left. Mid-exchange the guard ends as client_abort (its default outcome).
    Close();
    return;
  }
  in_end_ += n;
  if (phase_ == Phase::kExchange && !request_.message_done()) {
    client_deadline_ = Clock::now() + worker_.config().idle_timeout;
  }
  if (request_.message_done()) {
    MaybeReadClient();  // a pipelined request (or the client's EOF) waits for the response
    return;
  }
  Process();
}

void ClientConnection::WriteClient() {
  // As in FlushUpstream(): write now when the socket takes it all, queue only the rest.
  error_code ec;
  const size_t n = client_.write_some(asio::buffer(to_client_), ec);
  if (ec != asio::error::would_block && ec != asio::error::try_again &&
      (ec || n == to_client_.size())) {
    OnClientWritten(ec);
    return;
  }
  if (!ec && n > 0) to_client_.erase(0, n);
  client_writing_ = true;
  // A client that stops reading must not hold the exchange (and its upstream connection) for
  // --upstream-timeout: this write gets --client-write-timeout.
  client_write_deadline_ = Clock::now() + worker_.config().client_write_timeout;
  asio::async_write(
      client_, asio::buffer(to_client_),
      OnSlab(worker_.slab(), [self = shared_from_this()](const error_code& ec, size_t) {
        self->OnClientWritten(ec);
      }));
}

void ClientConnection::OnClientWritten(const error_code& ec) {
  client_writing_ = false;
  client_write_deadline_ = Clock::time_point::max();
  if (closed()) return;
  if (ec) {
    Guard().set_outcome(Outcome::kClientAbort);
    Close();
    return;
  }
  to_client_.clear();
  if (phase_ == Phase::kAnswering) {
    Linger();
    return;
  }
  if (response_.complete()) {
    MaybeFinishExchange();
  } else {
    ReadUpstream();
  }
}

// Ends the exchange once the whole response reached the client, then picks up the next request.
void ClientConnection::MaybeFinishExchange() {
  if (phase_ != Phase::kExchange || !response_.complete() || client_writing_ ||
      !to_client_.empty()) {
    return;
  }
  const bool request_done = request_.message_done();
  if (request_done && upstream_writing_) return;  // the write's completion comes back here
  AccountAnswer(/*complete=*/true);
  Guard().End(metrics::OutcomeForHttpStatus(response_.status()), worker_.LedgerNowNs());
  phase_ = Phase::kIdle;
  upstream_deadline_ = Clock::time_point::max();
  if (!upstream_reading_) worker_.buffers().Release(std::move(up_in_));
  if (request_done && response_.upstream_reusable() && !worker_.draining()) {
    worker_.pool().Release(std::move(upstream_));
    upstream_.reset();
  } else {
    DropUpstream();
  }
  // A response that came before its request was fully read leaves the rest of the request
  // unread: the connection cannot carry another request.
  if (!request_done || response_.close_client() || worker_.draining()) {
    error_code ignored;
    client_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    Close();
    return;
  }
  request_.NextMessage();
  to_upstream_.clear();
  client_deadline_ = Clock::now() + worker_.config().idle_timeout;
  Process();
}

}  // namespace lagscale::proxy
