// The upstream half of ClientConnection: connecting or reusing, sending the request, streaming
// the response back, and what the client is told when the upstream fails.
#include <algorithm>
#include <charconv>
#include <chrono>

#include "client_connection.h"
#include "tcp_info.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using metrics::Outcome;

namespace {

// The pause before connect attempt n + 1 (n >= 1): 20 ms, 40 ms, 80 ms ... each plus as much again
// at random (from the clock's low bits), so a burst of failed connects does not come back in
// lockstep, which would overflow the upstream's listen queue again.
std::chrono::steady_clock::duration ConnectBackoff(int attempts) {
  const auto base = std::chrono::microseconds(20'000) * (1 << std::min(attempts - 1, 4));
  const auto noise = std::chrono::steady_clock::now().time_since_epoch().count() / 1000;
  return base + std::chrono::microseconds(noise % base.count());
}

// How long a request sent whole on a new connection may go unacknowledged by the upstream's TCP
// before that connection is given up (on loopback an acknowledgement takes microseconds).
constexpr auto kConfirmAfter = std::chrono::milliseconds(100);
// New connections per request given up that way before the last one is waited for.
constexpr int kMaxNotTaken = 16;

}  // namespace

void ClientConnection::AcquireUpstream() {
  upstream_ = worker_.pool().Acquire();
  sent_any_ = false;
  if (upstream_) {
    OnUpstreamReady();
  } else {
    Connect();
  }
}

void ClientConnection::Connect() {
  ++exchange_.connect_attempts;
  upstream_ = worker_.pool().Create();
  connect_ = ConnectPhase::kInProgress;
  sent_any_ = upstream_reading_ = upstream_writing_ = false;
  SetUpstreamDeadline(Clock::now() + worker_.config().connect_timeout);
  upstream_->socket.async_connect(
      worker_.upstream(),
      OnSlab(worker_.slab(), [self = shared_from_this(), conn = upstream_](const error_code& ec) {
        if (conn != self->upstream_ || self->closed()) return;  // timed out or dropped meanwhile
        self->OnConnected(ec);
      }));
}

void ClientConnection::OnConnected(const error_code& ec) {
  if (ec) {
    ConnectFailed(ec.message());
    return;
  }
  connect_ = ConnectPhase::kIdle;
  upstream_->acked_at_connect = TcpBytesAcked(upstream_->socket.native_handle());
  error_code ignored;
  upstream_->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  upstream_->socket.non_blocking(true, ignored);  // for the direct writes in FlushUpstream()
  OnUpstreamReady();
}

// Nothing of the request reached the upstream, so another attempt is always safe: it is made
// after a short pause while attempts and the request's budget (--upstream-timeout from its
// arrival) last. An upstream that is really down refuses at once, so the 502 still comes quickly.
void ClientConnection::ConnectFailed(std::string_view why) {
  worker_.counters().Add(worker_.counters().upstream_connect_failures);
  DropUpstream();
  if (exchange_.connect_attempts < worker_.config().connect_attempts &&
      RetryConnectLater(exchange_.connect_attempts)) {
    return;
  }
  std::string body = "upstream unreachable: ";
  body.append(why).push_back('\n');
  SendErrorAndClose(502, "Bad Gateway", body, Outcome::kUpstreamError);
}

// Schedules the next connect attempt after backoff step `step`; false if the request's budget
// (--upstream-timeout from its arrival) would run out first.
bool ClientConnection::RetryConnectLater(int step) {
  const auto now = Clock::now();
  const auto pause = ConnectBackoff(step);
  if (now + pause >= exchange_.start + worker_.config().upstream_timeout) return false;
  worker_.counters().Add(worker_.counters().upstream_connect_retries);
  connect_ = ConnectPhase::kBackoff;
  SetUpstreamDeadline(now + pause);
  return true;
}

void ClientConnection::OnUpstreamReady() {
  SetUpstreamDeadline(Clock::now() + worker_.config().upstream_timeout);
  ReadUpstream();
  Process();  // sends what is owed to the upstream
}

void ClientConnection::FlushUpstream() {
  // A request sent whole, at once, is kept until its response starts. On a reused connection
  // (idempotent requests only) it is sent again on a new one if the upstream had closed that
  // connection meanwhile; on a new connection, if the upstream's TCP never took it.
  bool keep = !sent_any_ && request_.message_done() &&
              (!upstream_->reused || (request_.idempotent() && !exchange_.retried));
  // Try the write now: it almost always fits in the socket buffer, and finishing it here saves a
  // trip through the event queue (latency grows with every connection queued ahead).
  error_code ec;
  const size_t n = upstream_->socket.write_some(asio::buffer(to_upstream_), ec);
  if (n > 0) sent_any_ = true;
  if (ec != asio::error::would_block && ec != asio::error::try_again &&
      (ec || n == to_upstream_.size())) {
    OnUpstreamWritten(keep, ec);
    return;
  }
  if (!ec && n > 0) {
    keep = false;  // part of the request is gone from the buffer: it cannot be replayed
    to_upstream_.erase(0, n);
  }
  upstream_writing_ = true;
  asio::async_write(upstream_->socket, asio::buffer(to_upstream_),
                    OnSlab(worker_.slab(), [self = shared_from_this(), conn = upstream_, keep](
                                               const error_code& ec, size_t n) {
                      if (conn != self->upstream_ || self->closed()) return;
                      self->upstream_writing_ = false;
                      if (n > 0) self->sent_any_ = true;
                      self->OnUpstreamWritten(keep, ec);
                    }));
}

void ClientConnection::OnUpstreamWritten(bool keep, const error_code& ec) {
  if (ec) {
    // What is left in to_upstream_ stays: if none of it was sent, it can go on a new connection.
    UpstreamFailed("upstream connection failed while sending the request");
    return;
  }
  if (keep && !response_.received_any()) {
    replay_.swap(to_upstream_);
    if (!upstream_->reused && upstream_->acked_at_connect >= 0) {
      unconfirmed_ = true;
      confirm_at_ = Clock::now() + kConfirmAfter;
      ArmUpstreamTimer(confirm_at_);
    }
  }
  to_upstream_.clear();
  if (response_.complete()) {
    MaybeFinishExchange();
    return;
  }
  // The whole request is out: the answer is due from now, however long the upload took, so the
  // upstream's silence counts from here.
  if (request_.message_done()) {
    SetUpstreamDeadline(Clock::now() + worker_.config().upstream_timeout);
  }
  Process();
}

void ClientConnection::ReadUpstream() {
  if (upstream_reading_ || !upstream_ || closed()) return;
  upstream_reading_ = true;
  if (!up_in_) up_in_ = worker_.buffers().Acquire();
  upstream_->socket.async_read_some(
      asio::buffer(up_in_.get(), BufferPool::kBytes),
      OnSlab(worker_.slab(),
             [self = shared_from_this(), conn = upstream_](const error_code& ec, size_t n) {
               if (conn != self->upstream_ || self->closed()) return;
               self->upstream_reading_ = false;
               self->OnUpstreamRead(ec, n);
             }));
}

void ClientConnection::OnUpstreamRead(const error_code& ec, size_t n) {
  if (phase_ != Phase::kExchange) {
    DropUpstream();  // data or EOF outside an exchange: the connection is no longer usable
    return;
  }
  if (ec) {
    if (ec != asio::error::eof || !response_.FinishOnEof(to_client_)) {
      UpstreamFailed(response_.received_any() ? "upstream closed the connection mid-response"
                                              : "upstream closed the connection");
      return;
    }
  } else {
    if (!response_.received_any()) replay_.clear();
    unconfirmed_ = false;
    response_.SetRequestPending(!request_.message_done());
    const size_t used = response_.Feed(up_in_.get(), n, to_client_);
    if (response_.failed()) {
      UpstreamFailed("upstream sent an invalid HTTP response");
      return;
    }
    if (used < n) response_.ForbidReuse();     // bytes after the response: not a clean connection
    if (response_.final_head_done()) Guard();  // the answer began: the model waits no longer
    RecordFirstOutput();
  }
  upstream_deadline_ = Clock::now() + worker_.config().upstream_timeout;
  if (!to_client_.empty()) {
    WriteClient();  // its completion reads on, or finishes the exchange
  } else if (response_.complete()) {
    MaybeFinishExchange();
  } else {
    ReadUpstream();
  }
}

// Sending a request twice is safe when the upstream cannot have acted on it: no byte of it
// reached the connection, or it is idempotent and was kept whole (replay_) when a kept-alive
// connection failed. Never once a response byte came back, and only once per request.
bool ClientConnection::CanRetryRequest() const {
  if (exchange_.retried || response_.received_any() || client_writing_) return false;
  if (!replay_.empty() && request_.idempotent() && upstream_ && upstream_->reused) return true;
  return !sent_any_ && !upstream_writing_ && !to_upstream_.empty();
}

void ClientConnection::UpstreamFailed(std::string_view why) {
  if (CanRetryRequest()) {
    // Typically a kept-alive connection the upstream had closed: send again on a new one.
    exchange_.retried = true;
    worker_.counters().Add(worker_.counters().upstream_request_retries);
    if (!replay_.empty()) to_upstream_.swap(replay_);
    DropUpstream();
    StartResponse();
    exchange_.connect_attempts = 0;
    Connect();
    return;
  }
  if (response_.final_head_done() || client_writing_) {
    // Part of the response is out: the client can only learn of the failure by the close.
    Guard().set_outcome(Outcome::kUpstreamError);
    Close();
    return;
  }
  std::string body(why);
  body.push_back('\n');
  SendErrorAndClose(502, "Bad Gateway", body, Outcome::kUpstreamError);
}

void ClientConnection::DropUpstream() {
  if (!upstream_) return;
  error_code ignored;
  upstream_->socket.close(ignored);
  upstream_.reset();
  replay_.clear();
  unconfirmed_ = false;
  connect_ = ConnectPhase::kIdle;
  upstream_reading_ = upstream_writing_ = false;
}

void ClientConnection::SetUpstreamDeadline(Clock::time_point deadline) {
  upstream_deadline_ = deadline;
  ArmUpstreamTimer(unconfirmed_ ? std::min(deadline, confirm_at_) : deadline);
}

void ClientConnection::ArmUpstreamTimer(Clock::time_point at) {
  if (upstream_timer_armed_ && upstream_expiry_ <= at) return;  // it fires first and re-arms
  upstream_timer_armed_ = true;
  upstream_expiry_ = at;
  upstream_timer_.expires_at(at);
  upstream_timer_.async_wait(
      OnSlab(worker_.slab(),
             [self = shared_from_this()](const error_code& ec) { self->OnUpstreamTimer(ec); }));
}

// A burst of connects to a server with a small listen backlog: the kernel completes our side of
// the handshake but drops its last ACK when the accept queue is full, so the connection looks
// open while the server does not have it, and our request waits for TCP's retransmissions, which
// back off to seconds and, in a burst, overflow the queue again together. If not one byte of the
// request was acknowledged, the server cannot have read it: another connection is opened (after a
// random pause) while attempts last; the last one is waited for. Returns false if it reconnected.
bool ClientConnection::ConfirmUpstreamTookRequest() {
  unconfirmed_ = false;
  const int64_t acked = TcpBytesAcked(upstream_->socket.native_handle());
  if (acked < 0 || acked != upstream_->acked_at_connect || replay_.empty() ||
      exchange_.not_taken >= kMaxNotTaken) {
    return true;
  }
  to_upstream_.swap(replay_);
  worker_.counters().Add(worker_.counters().upstream_connect_failures);
  // Abortive close: a plain one would leave the kernel retransmitting the request, which the
  // server could then accept and read after all, next to the copy sent on the new connection.
  error_code ignored;
  upstream_->socket.set_option(asio::socket_base::linger(true, 0), ignored);
  DropUpstream();
  // Such a connection does not use up one of --connect-attempts (it did connect); these retries
  // are bounded on their own, and their backoff grows with their own count.
  ++exchange_.not_taken;
  --exchange_.connect_attempts;
  if (!RetryConnectLater(exchange_.not_taken)) {
    SendErrorAndClose(502, "Bad Gateway",
                      "upstream unreachable: it did not take the connection in time\n",
                      Outcome::kUpstreamError);
  }
  return false;
}

void ClientConnection::OnUpstreamTimer(const error_code& ec) {
  if (ec == asio::error::operation_aborted || closed()) return;  // re-armed or closed
  upstream_timer_armed_ = false;
  if (phase_ != Phase::kExchange || (!upstream_ && connect_ != ConnectPhase::kBackoff)) return;
  const auto now = Clock::now();
  if (unconfirmed_ && now >= confirm_at_ && !ConfirmUpstreamTookRequest()) return;
  if (now < upstream_deadline_) {
    SetUpstreamDeadline(upstream_deadline_);
    return;
  }
  if (connect_ == ConnectPhase::kBackoff) {
    Connect();
    return;
  }
  if (connect_ == ConnectPhase::kInProgress) {
    ConnectFailed("connect timed out");
    return;
  }
  // The request is still arriving and the upstream has taken all of it so far: the wait is the
  // client's, which --idle-timeout bounds (408), not the upstream's silence. A slow upload longer
  // than --upstream-timeout is not the server's fault.
  if (!request_.message_done() && to_upstream_.empty() && !upstream_writing_) {
    SetUpstreamDeadline(now + worker_.config().upstream_timeout);
    return;
  }
  if (response_.final_head_done() || client_writing_) {
    Guard().set_outcome(Outcome::kTimeout);
    Close();
    return;
  }
  SendErrorAndClose(504, "Gateway Timeout", "upstream did not answer in time\n", Outcome::kTimeout);
}

}  // namespace lagscale::proxy
