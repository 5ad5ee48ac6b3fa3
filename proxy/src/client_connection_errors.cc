// How a client connection ends: the proxy's own error answers, the client-side timeouts,
// lingering after an error answer, and closing.
#include <algorithm>
#include <charconv>
#include <chrono>

#include "client_connection.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using metrics::Outcome;

namespace {

// How long a connection that answered with an error keeps reading (and discarding) what the
// client still sends, so closing does not reset the connection before the client read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);

// The reason phrase and plain-text body of the proxy's answer to a request it refuses.
struct Refusal {
  std::string_view reason;
  std::string_view body;
};

Refusal RefusalFor(int status) {
  switch (status) {
    case 400:
      return {"Bad Request", "bad request: malformed or ambiguous HTTP/1.1 framing\n"};
    case 408:
      return {"Request Timeout", "request headers not received in time\n"};
    case 413:
      return {"Content Too Large", "request body larger than the configured limit\n"};
    case 431:
      return {"Request Header Fields Too Large",
              "request headers larger than the configured limit\n"};
    default:
      return {"Error", "error\n"};
  }
}

}  // namespace

void ClientConnection::OnRequestError() {
  const metrics::ParseError error = request_.error();
  worker_.counters().AddParseError(error);
  if (phase_ == Phase::kIdle && error == metrics::ParseError::kBodyTooLarge &&
      request_.head_done()) {
    StartExchange();  // a well-formed head that arrived counts, then ends as client_error
  }
  const int status = request_.error_status();
  if (phase_ == Phase::kExchange && (response_.final_head_done() || client_writing_)) {
    Guard().set_outcome(Outcome::kClientError);
    Close();
    return;
  }
  const Refusal refusal = RefusalFor(status);
  SendErrorAndClose(status, refusal.reason, refusal.body, Outcome::kClientError);
}

// Answers with a short plain-text error and closes: used for everything the proxy itself refuses.
void ClientConnection::SendErrorAndClose(int status, std::string_view reason, std::string_view body,
                                         Outcome outcome) {
  DropUpstream();
  if (phase_ == Phase::kExchange) AccountAnswer(/*complete=*/false);
  Guard().set_outcome(outcome);
  phase_ = Phase::kAnswering;
  char code[8], length[24];
  const auto code_end = std::to_chars(code, code + sizeof code, status).ptr;
  const auto length_end = std::to_chars(length, length + sizeof length, body.size()).ptr;
  to_client_.clear();
  to_client_.append("HTTP/1.1 ").append(code, code_end).append(" ").append(reason);
  to_client_.append("\r\nContent-Type: text/plain\r\nContent-Length: ");
  to_client_.append(length, length_end).append("\r\nConnection: close\r\n\r\n").append(body);
  WriteClient();
}

// After an error answer: stop sending, drain what the client still sends for a moment, close.
void ClientConnection::Linger() {
  Guard() = {};  // the answer is out: the request ends here with the outcome already set
  phase_ = Phase::kLingering;
  error_code ignored;
  client_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  client_deadline_ = Clock::now() + kLingerTime;
  ArmClientTimer();
  MaybeReadClient();
}

void ClientConnection::Close() {
  if (closed()) return;
  if (phase_ == Phase::kExchange) AccountAnswer(/*complete=*/false);
  phase_ = Phase::kClosed;
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
  if (closed()) return;
  if (client_writing_ && Clock::now() >= client_write_deadline_) {
    OnClientWriteTimeout();
    return;
  }
  if (Clock::now() < client_deadline_) {
    ArmClientTimer();
    return;
  }
  if (phase_ == Phase::kIdle && request_.reading_head()) {
    worker_.counters().AddParseError(metrics::ParseError::kHeaderTimeout);
    client_deadline_ = Clock::time_point::max();
    SendErrorAndClose(408, RefusalFor(408).reason, RefusalFor(408).body, Outcome::kClientError);
    return;
  }
  if (phase_ == Phase::kExchange && !request_.message_done()) {
    // The client stopped sending its body: its error, also when the answer has begun and the
    // close is all the client can be told.
    if (response_.final_head_done() || client_writing_) {
      Guard().set_outcome(Outcome::kClientError);
      Close();
      return;
    }
    client_deadline_ = Clock::time_point::max();
    SendErrorAndClose(408, RefusalFor(408).reason, "request body not received in time\n",
                      Outcome::kClientError);
    return;
  }
  if (phase_ ==
      Phase::kExchange) {  // no deadline while the response is due (the upstream timer has it)
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
  if (phase_ == Phase::kExchange) Guard().set_outcome(Outcome::kClientAbort);
  Close();
}

}  // namespace lagscale::proxy
