#include "h2_session.h"

#include <algorithm>

#include "h2_engine.h"

namespace lagscale::proxy::internal {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Frames produced ahead of the socket: past this the sessions stop producing until the write in
// flight completes, so a client that does not read holds at most this much of the proxy's memory
// (plus what the windows it was granted allow in the streams' queues).
constexpr size_t kOutputCap = 256 * 1024;
constexpr uint32_t kMaxConcurrentStreams = 1000;
constexpr uint32_t kMaxHeaderListBytes = 64 * 1024;

}  // namespace

ClientSession::ClientSession(FramesWorker& worker, asio::ip::tcp::socket socket)
    : worker_(worker),
      env_(worker.env()),
      config_(worker.config()),
      down_(std::make_shared<H2Wire>(worker.io())),
      idle_timer_(worker.io()) {
  down_->socket = std::move(socket);
}

ClientSession::~ClientSession() {
  // Streams still here were cut off with the worker's loop (the engine cancels them first).
  streams_.clear_and_dispose([](H2Stream* s) { delete s; });
}

void ClientSession::Start() {
  error_code ignored;
  down_->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  nghttp2_session_server_new2(&down_->session, config_.server_callbacks, this, config_.option);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderListBytes},
  };
  nghttp2_submit_settings(down_->session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(down_->session, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  worker_.Add(*this);
  idle_since_ = std::chrono::steady_clock::now();
  if (config_.idle_timeout.count() > 0) WatchIdle(idle_since_ + config_.idle_timeout);
  Read(down_, nullptr);
  FlushAll();
}

void ClientSession::WatchIdle(std::chrono::steady_clock::time_point at) {
  idle_timer_.expires_at(at);
  idle_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->OnIdleCheck();
  });
}

// No stream for idle_timeout: GOAWAY with NO_ERROR, then the connection closes once it is sent
// (FlushAll sees a session that wants neither to read nor to write). A client that opened a stream
// the GOAWAY did not cover retries it on a new connection, as it does after any GOAWAY.
void ClientSession::OnIdleCheck() {
  if (gone_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!streams_.empty()) {
    WatchIdle(now + config_.idle_timeout);  // busy now: idle at the earliest a full limit later
    return;
  }
  if (now < idle_since_ + config_.idle_timeout) {
    WatchIdle(idle_since_ + config_.idle_timeout);
    return;
  }
  nghttp2_session_terminate_session(down_->session, NGHTTP2_NO_ERROR);
  FlushAll();
}

void ClientSession::Drain() {
  if (gone_) return;
  nghttp2_submit_goaway(down_->session, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(down_->session), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  FlushAll();
}

void ClientSession::Cancel() {
  if (gone_) return;
  TearDown(/*shutdown=*/true);
}

// --- I/O -------------------------------------------------------------------------------------

void ClientSession::Read(std::shared_ptr<H2Wire> wire, std::shared_ptr<UpstreamLink> link) {
  H2Wire& w = *wire;
  w.socket.async_read_some(
      asio::buffer(w.in), [self = shared_from_this(), wire = std::move(wire),
                           link = std::move(link)](const error_code& ec, size_t n) {
        if (wire->closed) return;
        self->OnRead(*wire, link.get(), ec, n);
        if (!wire->closed) self->Read(wire, link);
      });
}

void ClientSession::OnRead(H2Wire& wire, UpstreamLink* link, const error_code& ec, size_t n) {
  const ssize_t rv = ec ? -1 : nghttp2_session_mem_recv(wire.session, wire.in.data(), n);
  if (rv < 0) {  // closed, reset, or a protocol error nghttp2 could not answer in-band
    if (link) {
      OnLinkFailed(*link, "upstream connection closed");
    } else {
      OnClientGone();
    }
  }
  FlushAll();
}

// Moves what `wire`'s session has to send into its buffer and starts a write if none is in
// flight. True if anything was produced.
bool ClientSession::Produce(const std::shared_ptr<H2Wire>& wire,
                            const std::shared_ptr<UpstreamLink>& link) {
  H2Wire& w = *wire;
  if (w.closed || !w.session) return false;
  bool produced = false;
  while (w.out.size() < kOutputCap && nghttp2_session_want_write(w.session)) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(w.session, &data);
    if (n <= 0) break;
    w.out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    produced = true;
  }
  if (w.write_pending || w.out.empty()) return produced;
  std::swap(w.out, w.writing);
  w.write_pending = true;
  asio::async_write(w.socket, asio::buffer(w.writing),
                    [self = shared_from_this(), wire, link](const error_code& ec, size_t) {
                      wire->write_pending = false;
                      wire->writing.clear();
                      // A connection waiting for its next call keeps no large buffer.
                      if (wire->writing.capacity() > 64 * 1024) wire->writing.shrink_to_fit();
                      if (wire->closed) return;
                      if (ec && link) {
                        self->OnLinkFailed(*link, "upstream connection closed");
                      } else if (ec) {
                        self->OnClientGone();
                      }
                      self->FlushAll();
                    });
  return produced;
}

// Each session's output can reopen a window or resume a stream on another, so produce until
// none has anything more; then close what has nothing left to do.
void ClientSession::FlushAll() {
  if (gone_) return;
  bool produced = true;
  for (int round = 0; produced && round < 8; ++round) {
    produced = Produce(down_, nullptr);
    for (size_t i = 0; i < links_.size(); ++i) {
      const std::shared_ptr<UpstreamLink> link = links_[i];  // Produce may forget it
      produced = Produce(link->wire, link) || produced;
    }
  }
  if (!nghttp2_session_want_read(down_->session) && !nghttp2_session_want_write(down_->session) &&
      !down_->write_pending) {
    OnClientGone();
  }
}

void ClientSession::CloseWire(H2Wire& wire) {
  if (wire.closed) return;
  wire.closed = true;
  error_code ignored;
  wire.socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  wire.socket.close(ignored);
}

// The client's connection is over: its calls end (as client_abort unless they got their status)
// and the upstream connections, which serve only this client, close.
void ClientSession::OnClientGone() {
  if (gone_) return;
  TearDown(/*shutdown=*/false);
}

// Ends every stream in the ledger and closes every connection: at shutdown (Cancel), or with the
// client gone, where a call without its status ends as the client's reset.
void ClientSession::TearDown(bool shutdown) {
  gone_ = true;
  streams_.clear_and_dispose([shutdown](H2Stream* s) {
    if (!shutdown && s->response != H2Stream::Response::kEnded) s->client_reset = true;
    s->Finalize(shutdown);
    delete s;
  });
  CloseWire(*down_);
  idle_timer_.cancel();
  for (auto& link : links_) CloseWire(*link->wire);
  links_.clear();
  current_ = nullptr;
  unlink();
}

void ClientSession::Consume(H2Wire* wire, int32_t id, size_t n) {
  if (wire && !wire->closed && wire->session && n > 0) {
    nghttp2_session_consume(wire->session, id, n);
  }
}

// --- Client side ------------------------------------------------------------------------------

int ClientSession::OnBeginRequest(int32_t id) {
  auto* stream = new H2Stream(env_, id);
  streams_.push_back(*stream);
  nghttp2_session_set_stream_user_data(down_->session, id, stream);
  return 0;
}

int ClientSession::OnRequestHeader(H2Stream& stream, std::string_view name,
                                   std::string_view value) {
  stream.AddRequestHeader(name, value);
  // Resets the stream (REFUSED_STREAM is not right: it was processed).
  return stream.header_bytes > kMaxHeaderListBytes ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

int ClientSession::OnRequestFrame(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA) return 0;
  H2Stream* stream = StreamOf(down_->session, frame.hd.stream_id);
  if (!stream) return 0;
  if (frame.hd.type == NGHTTP2_HEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
    stream->OnRequestHeadersDone();
    RouteUpstream(*stream);
  }
  if (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) {
    stream->OnRequestEnd();
    if (stream->upstream == H2Stream::Upstream::kOpen) {
      nghttp2_session_resume_data(stream->link->wire->session, stream->up_id);
    }
    MaybeFailDeferred(*stream);
  }
  return 0;
}

int ClientSession::OnRequestData(int32_t id, std::string_view data) {
  H2Stream* stream = StreamOf(down_->session, id);
  if (!stream || stream->upstream == H2Stream::Upstream::kDone) {
    Consume(down_.get(), id, data.size());  // nobody will read it: reopen the window at once
    if (stream) stream->OnRequestBytes(data);
    if (stream) MaybeFailDeferred(*stream);
    return 0;
  }
  stream->OnRequestBytes(data);
  stream->to_upstream.Append(data);
  if (stream->upstream == H2Stream::Upstream::kOpen) {
    nghttp2_session_resume_data(stream->link->wire->session, stream->up_id);
  }
  MaybeFailDeferred(*stream);
  return 0;
}

int ClientSession::OnClientStreamClose(int32_t id, uint32_t error_code) {
  H2Stream* stream = StreamOf(down_->session, id);
  if (!stream) return 0;
  nghttp2_session_set_stream_user_data(down_->session, id, nullptr);
  // A reset after our END_STREAM went out (whatever its code) came after the client's status.
  if (stream->response != H2Stream::Response::kEnded) stream->client_reset = true;
  (void)error_code;
  // The client cancelled (or has its answer): the upstream call ends now.
  DetachUpstream(*stream, NGHTTP2_CANCEL);
  stream->Finalize(/*shutdown=*/false);
  delete stream;
  if (streams_.empty()) idle_since_ = std::chrono::steady_clock::now();
  return 0;
}

int ClientSession::OnResponseFrameSent(const nghttp2_frame& frame) {
  if (!(frame.hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  H2Stream* stream = StreamOf(down_->session, frame.hd.stream_id);
  if (!stream) return 0;
  stream->response = H2Stream::Response::kEnded;
  // As a gRPC server does: a call that ended before its client half-closed is reset, so the
  // stream (and the client's sending) ends now.
  if (!stream->request_ended) {
    nghttp2_submit_rst_stream(down_->session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

}  // namespace lagscale::proxy::internal
