// The upstream half of ClientConnection: connecting or reusing, sending the request, streaming
// the response back, and what the client is told when the upstream fails.
#include <charconv>

#include "client_connection.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using metrics::Outcome;

void ClientConnection::AcquireUpstream() {
  upstream_ = worker_.pool().Acquire();
  if (upstream_) {
    OnUpstreamReady();
  } else {
    Connect();
  }
}

void ClientConnection::Connect() {
  upstream_ = worker_.pool().Create();
  connecting_ = true;
  upstream_reading_ = upstream_writing_ = false;
  SetUpstreamDeadline(Clock::now() + worker_.config().connect_timeout);
  upstream_->socket.async_connect(
      worker_.upstream(),
      OnSlab(worker_.slab(), [self = shared_from_this(), conn = upstream_](const error_code& ec) {
        if (conn != self->upstream_ || self->closed_) return;  // timed out or dropped meanwhile
        self->connecting_ = false;
        if (ec) {
          self->worker_.counters().Add(self->worker_.counters().upstream_connect_failures);
          std::string why = "upstream unreachable: " + ec.message() + "\n";
          self->SendErrorAndClose(502, "Bad Gateway", why, Outcome::kUpstreamError);
          return;
        }
        error_code ignored;
        conn->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        conn->socket.non_blocking(true, ignored);  // for the direct writes in FlushUpstream()
        self->OnUpstreamReady();
      }));
}

void ClientConnection::OnUpstreamReady() {
  SetUpstreamDeadline(Clock::now() + worker_.config().upstream_timeout);
  ReadUpstream();
  Process();  // sends what is owed to the upstream
}

void ClientConnection::FlushUpstream() {
  // A whole request sent on a reused connection is kept until its response starts: if the
  // upstream had closed that connection meanwhile, the request is sent again on a new one.
  bool keep = upstream_->reused && !retried_ && request_.message_done() && replay_.empty();
  // Try the write now: it almost always fits in the socket buffer, and finishing it here saves a
  // trip through the event queue (latency grows with every connection queued ahead).
  error_code ec;
  const size_t n = upstream_->socket.write_some(asio::buffer(to_upstream_), ec);
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
  asio::async_write(
      upstream_->socket, asio::buffer(to_upstream_),
      OnSlab(worker_.slab(),
             [self = shared_from_this(), conn = upstream_, keep](const error_code& ec, size_t) {
               if (conn != self->upstream_ || self->closed_) return;
               self->upstream_writing_ = false;
               self->OnUpstreamWritten(keep, ec);
             }));
}

void ClientConnection::OnUpstreamWritten(bool keep, const error_code& ec) {
  if (keep && !response_.received_any()) replay_.swap(to_upstream_);
  to_upstream_.clear();
  if (ec) {
    UpstreamFailed("upstream connection failed while sending the request");
    return;
  }
  if (response_.complete()) {
    MaybeFinishExchange();
    return;
  }
  Process();
}

void ClientConnection::ReadUpstream() {
  if (upstream_reading_ || !upstream_ || closed_) return;
  upstream_reading_ = true;
  upstream_->socket.async_read_some(
      asio::buffer(up_in_), OnSlab(worker_.slab(), [self = shared_from_this(), conn = upstream_](
                                                       const error_code& ec, size_t n) {
        if (conn != self->upstream_ || self->closed_) return;
        self->upstream_reading_ = false;
        self->OnUpstreamRead(ec, n);
      }));
}

void ClientConnection::OnUpstreamRead(const error_code& ec, size_t n) {
  if (!exchange_) {
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
    const size_t used = response_.Feed(up_in_.data(), n, to_client_);
    if (response_.failed()) {
      UpstreamFailed("upstream sent an invalid HTTP response");
      return;
    }
    if (used < n) response_.ForbidReuse();  // bytes after the response: not a clean connection
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

void ClientConnection::UpstreamFailed(std::string_view why) {
  if (!replay_.empty() && !response_.received_any() && !retried_) {
    // The reused connection was already closed by the upstream: send the request again, once.
    retried_ = true;
    to_upstream_.swap(replay_);
    DropUpstream();
    StartResponse();
    Connect();
    return;
  }
  if (response_.final_head_done() || client_writing_) {
    // Part of the response is out: the client can only learn of the failure by the close.
    guard_.set_outcome(Outcome::kUpstreamError);
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
  connecting_ = upstream_reading_ = upstream_writing_ = false;
}

void ClientConnection::SetUpstreamDeadline(Clock::time_point deadline) {
  upstream_deadline_ = deadline;
  if (upstream_timer_armed_ && upstream_expiry_ <= deadline) return;  // it fires first and re-arms
  upstream_timer_armed_ = true;
  upstream_expiry_ = deadline;
  upstream_timer_.expires_at(deadline);
  upstream_timer_.async_wait(
      OnSlab(worker_.slab(),
             [self = shared_from_this()](const error_code& ec) { self->OnUpstreamTimer(ec); }));
}

void ClientConnection::OnUpstreamTimer(const error_code& ec) {
  if (ec == asio::error::operation_aborted || closed_) return;  // re-armed or closed
  upstream_timer_armed_ = false;
  if (!exchange_ || !upstream_) return;
  const auto now = Clock::now();
  if (now < upstream_deadline_) {
    SetUpstreamDeadline(upstream_deadline_);
    return;
  }
  if (connecting_) {
    worker_.counters().Add(worker_.counters().upstream_connect_failures);
    SendErrorAndClose(502, "Bad Gateway", "upstream unreachable: connect timed out\n",
                      Outcome::kUpstreamError);
    return;
  }
  if (response_.final_head_done() || client_writing_) {
    guard_.set_outcome(Outcome::kTimeout);
    Close();
    return;
  }
  SendErrorAndClose(504, "Gateway Timeout", "upstream did not answer in time\n", Outcome::kTimeout);
}

}  // namespace lagscale::proxy
