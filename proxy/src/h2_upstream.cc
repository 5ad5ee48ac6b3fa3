// The frames engine's upstream side: connecting (with gRPC's backoff), and what arrives from the
// upstream's sessions.
#include <algorithm>

#include "h2_engine.h"
#include "h2_session.h"

namespace lagscale::proxy::internal {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto kMaxBackoff = std::chrono::milliseconds(1'000);

}  // namespace

// The link a new stream goes to: the current one, a new attempt, or none while the last
// attempt's failure is recent (the stream then fails at once, as gRPC fails calls while its
// channel is in TRANSIENT_FAILURE).
UpstreamLink* ClientSession::LinkForNewStream() {
  if (current_ && (current_->phase == UpstreamLink::Phase::kConnecting ||
                   current_->phase == UpstreamLink::Phase::kOpen)) {
    return current_;
  }
  if (std::chrono::steady_clock::now() < retry_at_) return nullptr;
  return Connect();
}

UpstreamLink* ClientSession::Connect() {
  auto link = std::make_shared<UpstreamLink>(worker_.io(), *this);
  links_.push_back(link);
  current_ = link.get();
  link->timer.expires_after(config_.connect_timeout);
  link->timer.async_wait([self = shared_from_this(), link](const error_code& ec) {
    if (ec || link->handshaken || link->phase == UpstreamLink::Phase::kClosed) return;
    self->OnLinkFailed(*link, "upstream unavailable: connect timed out");
    self->FlushAll();
  });
  link->resolver.async_resolve(
      config_.upstream_host, config_.upstream_port,
      [self = shared_from_this(), link](const error_code& ec,
                                        const asio::ip::tcp::resolver::results_type& results) {
        if (link->phase == UpstreamLink::Phase::kClosed) return;
        if (ec) {
          self->OnLinkFailed(*link, "upstream unavailable: cannot resolve its address");
          self->FlushAll();
          return;
        }
        asio::async_connect(link->wire->socket, results,
                            [self, link](const error_code& ec, const asio::ip::tcp::endpoint&) {
                              if (link->phase == UpstreamLink::Phase::kClosed) return;
                              if (ec) {
                                self->OnLinkFailed(*link,
                                                   "upstream unavailable: connection refused");
                              } else {
                                self->OnConnected(link);
                              }
                              self->FlushAll();
                            });
      });
  return link.get();
}

// TCP is up: speak HTTP/2 (prior knowledge); the streams wait for the upstream's SETTINGS.
void ClientSession::OnConnected(const std::shared_ptr<UpstreamLink>& link) {
  error_code ignored;
  link->wire->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  nghttp2_session_client_new2(&link->wire->session, config_.client_callbacks, link.get(),
                              config_.option);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  nghttp2_submit_settings(link->wire->session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(link->wire->session, NGHTTP2_FLAG_NONE, 0,
                                        kConnectionWindow);
  Read(link->wire, link);
}

// The upstream's SETTINGS: the attempt has succeeded, and the streams that waited for it go now.
// Not earlier: before its SETTINGS nghttp2 assumes the upstream takes 100 concurrent streams, and
// one that takes fewer would refuse the rest (gRPC's channel also waits for them).
void ClientSession::OnLinkReady(UpstreamLink& link) {
  if (link.handshaken) return;
  link.handshaken = true;
  link.timer.cancel();
  backoff_ = std::chrono::milliseconds(100);
  if (link.phase != UpstreamLink::Phase::kConnecting) return;
  link.phase = UpstreamLink::Phase::kOpen;
  for (H2Stream& stream : streams_) {
    if (stream.link == &link && stream.upstream == H2Stream::Upstream::kWaiting) {
      SubmitUpstream(stream, link);
    }
  }
}

// The attempt failed, or the connection was lost: every call on it that has no status yet ends
// as UNAVAILABLE made by the proxy (upstream_error).
void ClientSession::OnLinkFailed(UpstreamLink& link, const char* reason) {
  if (link.phase == UpstreamLink::Phase::kClosed) return;
  if (!link.handshaken) {  // a failed attempt: the next waits (100 ms doubling to 1 s)
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          kMaxBackoff));
  }
  link.phase = UpstreamLink::Phase::kClosed;
  if (current_ == &link) current_ = nullptr;
  for (H2Stream& stream : streams_) {
    if (stream.link != &link) continue;
    stream.upstream = H2Stream::Upstream::kDone;  // nothing to reset: the connection is gone
    FailStream(stream, reason);
  }
  link.by_id.clear();
  link.timer.cancel();
  CloseWire(*link.wire);
  ForgetLink(link);
}

void ClientSession::ForgetLink(UpstreamLink& link) {
  if (link.phase != UpstreamLink::Phase::kClosed) {
    link.phase = UpstreamLink::Phase::kClosed;
    CloseWire(*link.wire);
  }
  if (current_ == &link) current_ = nullptr;
  // Handlers still in flight hold their own reference.
  std::erase_if(links_, [&](const auto& l) { return l.get() == &link; });
}

int ClientSession::OnUpstreamFrame(UpstreamLink& link, const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_SETTINGS && !(frame.hd.flags & NGHTTP2_FLAG_ACK)) {
    OnLinkReady(link);
    return 0;
  }
  if (frame.hd.type == NGHTTP2_GOAWAY) {  // finish what it took, send new streams elsewhere
    if (link.phase == UpstreamLink::Phase::kOpen) link.phase = UpstreamLink::Phase::kGoingAway;
    if (current_ == &link) current_ = nullptr;
    return 0;
  }
  if (frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA) return 0;
  H2Stream* stream = link.Find(frame.hd.stream_id);
  if (!stream) return 0;
  const bool end = frame.hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame.hd.type == NGHTTP2_HEADERS && frame.headers.cat == NGHTTP2_HCAT_RESPONSE) {
    StartResponse(*stream, end);
  } else if (end) {  // trailers, or a last DATA frame
    EndResponse(*stream);
  }
  return 0;
}

int ClientSession::OnUpstreamData(UpstreamLink& link, int32_t up_id, std::string_view data) {
  H2Stream* stream = link.Find(up_id);
  if (!stream) {
    Consume(link.wire.get(), up_id, data.size());
    return 0;
  }
  stream->OnResponseBytes(data);
  stream->to_client.Append(data);
  nghttp2_session_resume_data(down_->session, stream->id);
  return 0;
}

int ClientSession::OnUpstreamStreamClose(UpstreamLink& link, int32_t up_id, uint32_t error_code) {
  H2Stream* stream = link.Find(up_id);
  if (!stream) return 0;
  const bool answered = stream->response == H2Stream::Response::kEnding ||
                        stream->response == H2Stream::Response::kEnded;
  if (!answered && error_code == NGHTTP2_REFUSED_STREAM && stream->replayable() &&
      stream->response == H2Stream::Response::kNone) {
    RetryRefused(*stream, link);
    return 0;
  }
  DetachUpstream(*stream, NGHTTP2_NO_ERROR);
  if (answered || (error_code == NGHTTP2_NO_ERROR && stream->status)) return 0;
  if (error_code == NGHTTP2_REFUSED_STREAM) {  // never processed (e.g. past a GOAWAY)
    FailStream(*stream, "upstream refused the stream");
    return 0;
  }
  // Reset by the upstream without a status: the client's stream is reset the same way.
  stream->upstream_reset = true;
  nghttp2_submit_rst_stream(down_->session, NGHTTP2_FLAG_NONE, stream->id,
                            error_code == NGHTTP2_NO_ERROR ? uint32_t{NGHTTP2_INTERNAL_ERROR} : error_code);
  return 0;
}

}  // namespace lagscale::proxy::internal
