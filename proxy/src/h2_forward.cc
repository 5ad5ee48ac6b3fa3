// The frames engine between its two sides: a client stream's twin on the upstream, its bodies in
// both directions, the response and trailers back, and the answers the proxy makes itself.
#include <algorithm>

#include "h2_session.h"

namespace lagscale::proxy::internal {
namespace {

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

}  // namespace

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
      nghttp2_submit_request(link.wire->session, nullptr, nva.data(), nva.size(), &body, nullptr);
  if (id < 0) {
    --link.streams;
    stream.link = nullptr;
    stream.upstream = H2Stream::Upstream::kDone;
    FailStream(stream, "upstream connection cannot take more streams");
    return;
  }
  stream.up_id = id;
  stream.upstream = H2Stream::Upstream::kOpen;
  link.by_id.emplace(id, &stream);
  if (!stream.replayable()) std::vector<Header>().swap(stream.request_headers);  // no retry left
}

ssize_t ClientSession::ReadRequestBody(UpstreamLink& link, int32_t up_id, uint8_t* buf,
                                       size_t length, uint32_t* flags) {
  H2Stream* stream = link.Find(up_id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::string_view front = stream->to_upstream.Front();
  const size_t n = std::min(length, front.size());
  std::copy_n(front.data(), n, buf);
  stream->KeepForReplay(front.substr(0, n));
  stream->to_upstream.Drop(n);
  // Handed on: the client may send that much more (not again for bytes sent a second time).
  const size_t again = std::min(n, stream->replayed);
  stream->replayed -= again;
  Consume(down_.get(), stream->id, n - again);
  if (stream->to_upstream.empty() && stream->request_ended) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  return n > 0 ? static_cast<ssize_t>(n) : ssize_t{NGHTTP2_ERR_DEFERRED};
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

// The upstream's response headers go to the client as they are.
void ClientSession::StartResponse(H2Stream& stream, bool end_stream) {
  stream.StopReplay();
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

// Sends a stream the upstream refused once more, on a new connection if the refusing one is going
// away: its headers, then what it had sent, then what is still queued.
void ClientSession::RetryRefused(H2Stream& stream, UpstreamLink& link) {
  --link.streams;
  link.by_id.erase(stream.up_id);
  stream.link = nullptr;
  stream.up_id = 0;
  stream.upstream = H2Stream::Upstream::kWaiting;
  const std::string queued(stream.to_upstream.Front());
  const std::string sent = stream.TakeReplay();  // one retry: a second refusal fails the call
  stream.to_upstream.Drop(stream.to_upstream.size());
  stream.to_upstream.Append(sent);
  stream.to_upstream.Append(queued);
  stream.replayed = sent.size();
  if (link.phase == UpstreamLink::Phase::kGoingAway && link.streams == 0) ForgetLink(link);
  RouteUpstream(stream);
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
    if (open && error_code != NGHTTP2_NO_ERROR) {
      // Also cancels a request nghttp2 has not sent yet.
      nghttp2_submit_rst_stream(link->wire->session, NGHTTP2_FLAG_NONE, stream.up_id, error_code);
    }
  }
  if (open) link->by_id.erase(stream.up_id);
  if (link->phase == UpstreamLink::Phase::kGoingAway && link->streams == 0) ForgetLink(*link);
}

}  // namespace lagscale::proxy::internal
