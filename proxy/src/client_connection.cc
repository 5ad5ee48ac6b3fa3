#include "client_connection.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "lagscale/proxy/model_router.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using metrics::Outcome;

namespace {

// How long a connection that answered with an error keeps reading (and discarding) what the
// client still sends, so closing does not reset the connection before the client read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);

std::string_view ReasonFor(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string_view BodyFor(int status) {
  switch (status) {
    case 400:
      return "bad request: malformed or ambiguous HTTP/1.1 framing\n";
    case 408:
      return "request headers not received in time\n";
    case 413:
      return "request body larger than the configured limit\n";
    case 431:
      return "request headers larger than the configured limit\n";
    default:
      return "error\n";
  }
}

}  // namespace

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
  if (closed_) return;
  if (!exchange_ && !request_.reading_head()) {
    Close();
    return;
  }
  response_.RequestClientClose();
}

// Parses what the client sent and moves the exchange on as far as it can without waiting.
void ClientConnection::Process() {
  if (closed_ || lingering_) return;
  if (!request_.message_done() && !request_.failed() && in_begin_ < in_end_) {
    const bool was_reading = request_.reading_head() || request_.head_done();
    in_begin_ += request_.Feed(in_.get() + in_begin_, in_end_ - in_begin_, to_upstream_);
    if (!was_reading && request_.reading_head()) {
      client_deadline_ = Clock::now() + worker_.config().header_timeout;
    }
    if (request_.head_done() && !exchange_ && !request_.failed()) StartExchange();
    if (exchange_) BeginWhenRouted();
  }
  if (request_.failed()) {
    OnRequestError();
    return;
  }
  if (exchange_) {
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
  awaiting_model_ = request_.model_in_body();
  const int64_t ledger_now = worker_.LedgerNowNs();
  if (!awaiting_model_) {
    guard_ = worker_.ledger().Begin(
        RouteModel(worker_.table(), !header.empty(), header, request_.target()), ledger_now);
  }
  openai_ = request_.openai();
  first_output_seen_ = false;
  if (openai_) arrival_ns_ = ledger_now;
  exchange_ = true;
  exchange_start_ = Clock::now();
  connect_attempts_ = not_taken_ = 0;
  retried_ = false;
  // A body still to come must keep coming: the idle timeout bounds silence mid-body.
  client_deadline_ = request_.message_done() ? Clock::time_point::max()
                                             : exchange_start_ + worker_.config().idle_timeout;
  StartResponse();
}

void ClientConnection::StartResponse() {
  response_.Start(request_.is_head_method(), request_.http11(),
                  !request_.keep_alive() || worker_.draining(), openai_);
}

// A request whose model is in its body begins once the body told (see the class comment).
void ClientConnection::BeginWhenRouted() {
  if (!awaiting_model_) return;
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
  awaiting_model_ = false;
}

// The exchange's guard, begun (unattributed) first if its model is still unknown: whatever ends
// or judges the exchange goes through here.
metrics::RequestGuard& ClientConnection::Guard() {
  if (awaiting_model_) {
    guard_ = worker_.ledger().Begin(worker_.table().unattributed(), worker_.LedgerNowNs());
    awaiting_model_ = false;
  }
  return guard_;
}

void ClientConnection::RecordFirstOutput() {
  if (!openai_ || first_output_seen_ || !response_.usage().first_output()) return;
  first_output_seen_ = true;
  Guard().RecordFirstByte(arrival_ns_);
}

// What the answer to an OpenAI request showed: its usage tokens, events too large to scan, and
// for a complete answer without a body its end as the first output.
void ClientConnection::AccountAnswer(bool complete) {
  if (!openai_) return;
  const UsageScanner& usage = response_.usage();
  if (complete && !first_output_seen_) {
    first_output_seen_ = true;
    Guard().RecordFirstByte(arrival_ns_);
  }
  if (usage.has_usage()) Guard().AddTokens(usage.prompt_tokens(), usage.completion_tokens());
  if (usage.skipped_events() > 0) {
    worker_.counters().Add(worker_.counters().answer_events_skipped, usage.skipped_events());
  }
  openai_ = false;  // counted once
}

void ClientConnection::MaybeReadClient() {
  if (client_reading_ || closed_) return;
  // Back-pressure: while a request streams, read more only once the last piece went upstream.
  if (exchange_ && !request_.message_done() && !to_upstream_.empty()) return;
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
  if (ec || closed_) {
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
  if (closed_) return;
  if (lingering_) {
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
  if (exchange_ && !request_.message_done()) {
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
  if (closed_) return;
  if (ec) {
    Guard().set_outcome(Outcome::kClientAbort);
    Close();
    return;
  }
  to_client_.clear();
  if (close_after_write_) {
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
  if (!exchange_ || !response_.complete() || client_writing_ || !to_client_.empty()) return;
  const bool request_done = request_.message_done();
  if (request_done && upstream_writing_) return;  // the write's completion comes back here
  AccountAnswer(/*complete=*/true);
  Guard().End(metrics::OutcomeForHttpStatus(response_.status()), worker_.LedgerNowNs());
  exchange_ = false;
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

void ClientConnection::OnRequestError() {
  const metrics::ParseError error = request_.error();
  worker_.counters().AddParseError(error);
  if (!exchange_ && error == metrics::ParseError::kBodyTooLarge && request_.head_done()) {
    StartExchange();  // a well-formed head that arrived counts, then ends as client_error
  }
  const int status = request_.error_status();
  if (exchange_ && (response_.final_head_done() || client_writing_)) {
    Guard().set_outcome(Outcome::kClientError);
    Close();
    return;
  }
  SendErrorAndClose(status, ReasonFor(status), BodyFor(status), Outcome::kClientError);
}

// Answers with a short plain-text error and closes: used for everything the proxy itself refuses.
void ClientConnection::SendErrorAndClose(int status, std::string_view reason, std::string_view body,
                                         Outcome outcome) {
  DropUpstream();
  if (exchange_) AccountAnswer(/*complete=*/false);
  Guard().set_outcome(outcome);
  exchange_ = false;
  char code[8], length[24];
  const auto code_end = std::to_chars(code, code + sizeof code, status).ptr;
  const auto length_end = std::to_chars(length, length + sizeof length, body.size()).ptr;
  to_client_.clear();
  to_client_.append("HTTP/1.1 ").append(code, code_end).append(" ").append(reason);
  to_client_.append("\r\nContent-Type: text/plain\r\nContent-Length: ");
  to_client_.append(length, length_end).append("\r\nConnection: close\r\n\r\n").append(body);
  close_after_write_ = true;
  WriteClient();
}

// After an error answer: stop sending, drain what the client still sends for a moment, close.
void ClientConnection::Linger() {
  Guard() = {};  // the answer is out: the request ends here with the outcome already set
  lingering_ = true;
  error_code ignored;
  client_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  client_deadline_ = Clock::now() + kLingerTime;
  ArmClientTimer();
  MaybeReadClient();
}

void ClientConnection::Close() {
  if (closed_) return;
  closed_ = true;
  if (exchange_) AccountAnswer(/*complete=*/false);
  Guard() = {};
  DropUpstream();
  error_code ignored;
  client_.close(ignored);
  client_timer_.cancel();
  upstream_timer_.cancel();
  worker_.OnConnectionClosed();
}

void ClientConnection::ArmClientTimer() {
  // The timer ticks at most every client_tick_ and compares against the deadline, so moving the
  // deadline (every request) never touches the timer queue.
  const auto now = Clock::now();
  client_timer_.expires_at(
      std::min({client_deadline_, client_write_deadline_, now + client_tick_}));
  client_timer_.async_wait(
      OnSlab(worker_.slab(), [self = shared_from_this()](const error_code& ec) {
        if (!ec) self->OnClientTimer();
      }));
}

void ClientConnection::OnClientTimer() {
  if (closed_) return;
  if (client_writing_ && Clock::now() >= client_write_deadline_) {
    OnClientWriteTimeout();
    return;
  }
  if (Clock::now() < client_deadline_) {
    ArmClientTimer();
    return;
  }
  if (!lingering_ && !exchange_ && request_.reading_head()) {
    worker_.counters().AddParseError(metrics::ParseError::kHeaderTimeout);
    client_deadline_ = Clock::time_point::max();
    SendErrorAndClose(408, ReasonFor(408), BodyFor(408), Outcome::kClientError);
    return;
  }
  if (exchange_ && !request_.message_done()) {
    // The client stopped sending its body.
    if (response_.final_head_done() || client_writing_) {
      Close();
      return;
    }
    client_deadline_ = Clock::time_point::max();
    SendErrorAndClose(408, ReasonFor(408), "request body not received in time\n",
                      Outcome::kClientError);
    return;
  }
  if (exchange_) {  // no deadline while the response is due (the upstream timer has it)
    client_deadline_ = Clock::time_point::max();
    ArmClientTimer();
    return;
  }
  Close();  // idle keep-alive timeout, or the end of lingering
}

// The client stopped reading its response. It is the client's doing, like leaving, so the
// request ends as client_abort (not timeout, which blames the upstream); the upstream connection
// is closed so the server can stop the work.
void ClientConnection::OnClientWriteTimeout() {
  worker_.counters().Add(worker_.counters().client_write_timeouts);
  if (exchange_) Guard().set_outcome(Outcome::kClientAbort);
  Close();
}

}  // namespace lagscale::proxy
