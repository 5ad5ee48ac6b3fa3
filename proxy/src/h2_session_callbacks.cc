// nghttp2's callback tables for the frames engine: thin trampolines into ClientSession. The client
// side's sessions carry the ClientSession as user data, the upstream side's their UpstreamLink.
#include <string_view>

#include "h2_session.h"

namespace lagscale::proxy::internal {
namespace {

ClientSession& Session(void* user) { return *static_cast<ClientSession*>(user); }
UpstreamLink& Link(void* user) { return *static_cast<UpstreamLink*>(user); }

std::string_view View(const uint8_t* data, size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

int ServerBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  return Session(user).OnBeginRequest(frame->hd.stream_id);
}

int ServerHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                 size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;  // a client's trailers: gRPC sends none, and they are not forwarded
  }
  auto* stream =
      static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream) return 0;
  return Session(user).OnRequestHeader(*stream, View(name, namelen), View(value, valuelen));
}

int ServerFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return Session(user).OnRequestFrame(*frame);
}

int ServerDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* user) {
  return Session(user).OnRequestData(id, View(data, len));
}

int ServerStreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  return Session(user).OnClientStreamClose(id, error_code);
}

int ServerFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return Session(user).OnResponseFrameSent(*frame);
}

int ClientHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                 size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Stream* stream = Link(user).Find(frame->hd.stream_id);
  if (!stream) return 0;
  stream->OnResponseHeader(View(name, namelen), View(value, valuelen));
  stream->upstream_headers.push_back(
      Header{std::string(View(name, namelen)), std::string(View(value, valuelen))});
  return 0;
}

int ClientFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  UpstreamLink& link = Link(user);
  return link.session.OnUpstreamFrame(link, *frame);
}

int ClientDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* user) {
  UpstreamLink& link = Link(user);
  return link.session.OnUpstreamData(link, id, View(data, len));
}

int ClientStreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  UpstreamLink& link = Link(user);
  return link.session.OnUpstreamStreamClose(link, id, error_code);
}

}  // namespace

nghttp2_session_callbacks* NewServerCallbacks() {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, ServerBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb, ServerHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, ServerFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, ServerDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, ServerStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, ServerFrameSend);
  return cb;
}

nghttp2_session_callbacks* NewClientCallbacks() {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, ClientHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, ClientFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, ClientDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, ClientStreamClose);
  return cb;
}

}  // namespace lagscale::proxy::internal
