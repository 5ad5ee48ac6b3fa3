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
// Per-stream and per-connection receive windows granted to the client and to the upstream.
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 4 << 20;
constexpr uint32_t kMaxConcurrentStreams = 1000;
constexpr uint32_t kMaxHeaderListBytes = 64 * 1024;

nghttp2_nv Nv(const Header& h) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(h.name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data())), h.name.size(),
                    h.value.size(), NGHTTP2_NV_FLAG_NONE};
}

std::vector<nghttp2_nv> Nva(const std::vector<Header>& headers) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const Header& h : headers) nva.push_back(Nv(h));
  return nva;
}

H2Stream* StreamOf(nghttp2_session* session, int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

}  // namespace

ClientSession::ClientSession(FramesWorker& worker, asio::ip::tcp::socket socket)
    : worker_(worker),
      env_(worker.env()),
      config_(worker.config()),
      down_(std::make_shared<H2Wire>(worker.io())) {
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
  Read(down_, nullptr);
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
  gone_ = true;
  streams_.clear_and_dispose([](H2Stream* s) {
    s->Finalize(/*shutdown=*/true);
    delete s;
  });
  CloseWire(*down_);
  for (auto& link : links_) CloseWire(*link->wire);
  links_.clear();
  current_ = nullptr;
  unlink();
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
  gone_ = true;
  streams_.clear_and_dispose([](H2Stream* s) {
    if (s->response != H2Stream::Response::kEnded) s->client_reset = true;
    s->Finalize(/*shutdown=*/false);
    delete s;
  });
  CloseWire(*down_);
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
  if (stream->response != H2Stream::Response::kEnded || error_code != NGHTTP2_NO_ERROR) {
    // Our END_STREAM may have gone out just before the client's reset: it got its status then.
    if (stream->response != H2Stream::Response::kEnded) stream->client_reset = true;
  }
  // The client cancelled (or has its answer): the upstream call ends now.
  DetachUpstream(*stream, NGHTTP2_CANCEL);
  stream->Finalize(/*shutdown=*/false);
  delete stream;
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

ssize_t ClientSession::ReadResponseBody(int32_t id, uint8_t* buf, size_t length,
                                        uint32_t* flags) {
  H2Stream* stream = StreamOf(down_->session, id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::string_view front = stream->to_client.Front();
  const size_t n = std::min(length, front.size());
  std::copy_n(front.data(), n, buf);
  stream->to_client.Drop(n);
  // Handed on: the upstream may send that much more.
  if (stream->link) Consume(stream->link->wire.get(), stream->up_id, n);  // (kOpen only)
  if (!stream->to_client.empty() || stream->response != H2Stream::Response::kEnding) {
    return n > 0 ? static_cast<ssize_t>(n) : ssize_t{NGHTTP2_ERR_DEFERRED};
  }
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (!stream->upstream_headers.empty()) {
    const auto nva = Nva(stream->upstream_headers);
    if (nghttp2_submit_trailer(down_->session, id, nva.data(), nva.size()) == 0) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return static_cast<ssize_t>(n);
}

// --- Between the two sides --------------------------------------------------------------------

void ClientSession::RouteUpstream(H2Stream& stream) {
  UpstreamLink* link = LinkForNewStream();
  if (!link) {
    FailStream(stream, "upstream unavailable: the last connection attempt failed");
    return;
  }
  stream.link = link;
  ++link->streams;
  if (link->phase == UpstreamLink::Phase::kOpen) SubmitUpstream(stream, *link);
}

void ClientSession::SubmitUpstream(H2Stream& stream, UpstreamLink& link) {
  nghttp2_data_provider body;
  body.source.ptr = nullptr;
  body.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* user) -> ssize_t {
    auto* l = static_cast<UpstreamLink*>(user);
    return l->session.ReadRequestBody(*l, id, buf, length, flags);
  };
  const auto nva = Nva(stream.request_headers);
  const int32_t id =
      nghttp2_submit_request(link.wire->session, nullptr, nva.data(), nva.size(), &body, &stream);
  if (id < 0) {
    --link.streams;
    stream.link = nullptr;
    stream.upstream = H2Stream::Upstream::kDone;
    FailStream(stream, "upstream connection cannot take more streams");
    return;
  }
  stream.up_id = id;
  stream.upstream = H2Stream::Upstream::kOpen;
  stream.request_headers.clear();
  stream.request_headers.shrink_to_fit();
}

ssize_t ClientSession::ReadRequestBody(UpstreamLink& link, int32_t up_id, uint8_t* buf,
                                       size_t length, uint32_t* flags) {
  H2Stream* stream = StreamOf(link.wire->session, up_id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::string_view front = stream->to_upstream.Front();
  const size_t n = std::min(length, front.size());
  std::copy_n(front.data(), n, buf);
  stream->to_upstream.Drop(n);
  Consume(down_.get(), stream->id, n);  // handed on: the client may send that much more
  if (stream->to_upstream.empty() && stream->request_ended) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  return n > 0 ? static_cast<ssize_t>(n) : ssize_t{NGHTTP2_ERR_DEFERRED};
}

// The upstream's response headers go to the client as they are.
void ClientSession::StartResponse(H2Stream& stream, bool end_stream) {
  const auto nva = Nva(stream.upstream_headers);  // points into upstream_headers until sent
  if (end_stream) {  // trailers-only: the status is in these headers
    stream.response = H2Stream::Response::kEnding;
    if (!stream.status) stream.status = 2;  // not gRPC (e.g. an HTTP error): UNKNOWN to a client
    nghttp2_submit_response(down_->session, stream.id, nva.data(), nva.size(), nullptr);
    stream.upstream_headers.clear();
    return;
  }
  nghttp2_data_provider body;
  body.source.ptr = nullptr;
  body.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* user) -> ssize_t {
    return static_cast<ClientSession*>(user)->ReadResponseBody(id, buf, length, flags);
  };
  stream.response = H2Stream::Response::kStarted;
  nghttp2_submit_response(down_->session, stream.id, nva.data(), nva.size(), &body);
  stream.upstream_headers.clear();  // nghttp2 copied them; the trailers collect here next
}

// The upstream finished sending: the client gets what is queued, then the trailers.
void ClientSession::EndResponse(H2Stream& stream) {
  if (stream.response != H2Stream::Response::kStarted) return;
  stream.response = H2Stream::Response::kEnding;
  if (!stream.status) {  // no grpc-status: a gRPC client reads that as INTERNAL; say why
    stream.status = 13;
    stream.upstream_headers = {{"grpc-status", "13"},
                               {"grpc-message", "upstream ended the call without a status"}};
  }
  nghttp2_session_resume_data(down_->session, stream.id);
}

// Answers the call with UNAVAILABLE made by the proxy (upstream_error), once its model is known.
void ClientSession::FailStream(H2Stream& stream, const char* message) {
  DetachUpstream(stream, NGHTTP2_CANCEL);
  if (stream.response == H2Stream::Response::kEnding ||
      stream.response == H2Stream::Response::kEnded) {
    return;  // the upstream's status is on its way
  }
  if (!stream.Attributed()) {
    stream.pending_failure = message;
    return;
  }
  stream.pending_failure = nullptr;
  stream.status = 14;
  stream.proxy_status = true;
  stream.upstream_headers = {{"grpc-status", "14"}, {"grpc-message", message}};
  if (stream.response == H2Stream::Response::kStarted) {
    EndResponse(stream);
    return;
  }
  stream.upstream_headers.insert(stream.upstream_headers.begin(),
                                 {{":status", "200"}, {"content-type", "application/grpc"}});
  StartResponse(stream, /*end_stream=*/true);
}

void ClientSession::MaybeFailDeferred(H2Stream& stream) {
  if (stream.pending_failure && stream.Attributed()) FailStream(stream, stream.pending_failure);
}

// The stream leaves its upstream link, reset there with `error_code` if it is still open. Bytes
// it queued are given back to the windows they came through: nobody will read them.
void ClientSession::DetachUpstream(H2Stream& stream, uint32_t error_code) {
  Consume(down_.get(), stream.id, stream.to_upstream.size());
  stream.to_upstream.Drop(stream.to_upstream.size());
  UpstreamLink* link = stream.link;
  const bool open = stream.upstream == H2Stream::Upstream::kOpen;
  stream.upstream = H2Stream::Upstream::kDone;
  stream.link = nullptr;
  if (!link) return;
  --link->streams;
  if (!link->wire->closed && link->wire->session) {
    // What is still queued for the client has left the upstream's window for good.
    nghttp2_session_consume_connection(link->wire->session, stream.to_client.size());
    if (open) {
      nghttp2_session_set_stream_user_data(link->wire->session, stream.up_id, nullptr);
      if (error_code != NGHTTP2_NO_ERROR) {
        nghttp2_submit_rst_stream(link->wire->session, NGHTTP2_FLAG_NONE, stream.up_id,
                                  error_code);
      }
    }
  }
  if (link->phase == UpstreamLink::Phase::kGoingAway && link->streams == 0) ForgetLink(*link);
}

}  // namespace lagscale::proxy::internal
