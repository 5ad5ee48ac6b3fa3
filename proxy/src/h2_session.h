#pragma once
// Internal to proxy/: the frames engine's client connection: an nghttp2 server session for the
// client and nghttp2 client sessions to the upstream, with every stream forwarded between them.
// Thread safety: everything runs on the owning worker's thread.

#include <nghttp2/nghttp2.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/intrusive/list.hpp>

#include "h2_stream.h"

namespace lagscale::proxy::internal {

// Receive windows the proxy grants, per stream and per connection, on both sides: what one
// stream, or one connection, may have queued in the proxy at most in each direction.
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 4 << 20;

// The stream an nghttp2 session's stream carries as user data (null once detached).
inline H2Stream* StreamOf(nghttp2_session* session, int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

// What every connection of the engine shares; read-only once the engine has started.
struct FramesConfig {
  std::string upstream_host;
  std::string upstream_port;
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds idle_timeout{60'000};  // 0: never
  nghttp2_session_callbacks* server_callbacks = nullptr;
  nghttp2_session_callbacks* client_callbacks = nullptr;
  nghttp2_option* option = nullptr;
};

// H2Wire: one TCP connection and the nghttp2 session that speaks on it.
struct H2Wire {
  explicit H2Wire(boost::asio::io_context& io) : socket(io) {}
  ~H2Wire() {
    if (session) nghttp2_session_del(session);
  }
  boost::asio::ip::tcp::socket socket;
  nghttp2_session* session = nullptr;
  std::string out;      // frames produced while a write is in flight
  std::string writing;  // the write in flight
  bool write_pending = false;
  bool closed = false;
  std::array<uint8_t, 16384> in;
};

class ClientSession;

// UpstreamLink: one HTTP/2 connection to the upstream, owned by a client connection.
struct UpstreamLink {
  enum class Phase : uint8_t {
    kConnecting,  // resolving, connecting, or waiting for the upstream's SETTINGS (streams wait)
    kOpen,        // takes new streams
    kGoingAway,   // GOAWAY received: finishes its streams, takes no new ones
    kClosed,
  };
  UpstreamLink(boost::asio::io_context& io, ClientSession& owner)
      : wire(std::make_shared<H2Wire>(io)), resolver(io), timer(io), session(owner) {}
  std::shared_ptr<H2Wire> wire;
  boost::asio::ip::tcp::resolver resolver;
  boost::asio::steady_timer timer;  // the connect attempt's time limit
  ClientSession& session;
  Phase phase = Phase::kConnecting;
  bool handshaken = false;  // the upstream's SETTINGS arrived
  size_t streams = 0;       // streams routed here and not yet closed or detached
  // The streams submitted here, by upstream stream id. Kept here rather than as nghttp2 stream
  // user data: a request nghttp2 still holds in its queue (the upstream's concurrent-stream limit)
  // has no stream yet whose user data could be cleared when the client's stream goes away.
  std::unordered_map<int32_t, H2Stream*> by_id;
  H2Stream* Find(int32_t id) const {
    const auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  }
};

class FramesWorker;

// ClientSession: a client's HTTP/2 connection. Each client stream gets a twin on an upstream
// link; headers, DATA (as flow control allows), trailers and resets cross between the two.
// A window is only reopened (nghttp2_session_consume) once its bytes were handed to the other
// side's session, so a slow reader on one side stalls the other instead of filling memory.
class ClientSession : public std::enable_shared_from_this<ClientSession>,
                      public boost::intrusive::list_base_hook<
                          boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  ClientSession(FramesWorker& worker, boost::asio::ip::tcp::socket socket);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void Start();
  // GOAWAY to the client: streams in progress go on, new ones are refused.
  void Drain();
  // Ends every stream (in the ledger too) and closes every connection.
  void Cancel();

  // nghttp2 callbacks (h2_session_callbacks.cc), as members so they reach the state.
  int OnBeginRequest(int32_t id);
  int OnRequestHeader(H2Stream& stream, std::string_view name, std::string_view value);
  int OnRequestFrame(const nghttp2_frame& frame);
  int OnRequestData(int32_t id, std::string_view data);
  int OnClientStreamClose(int32_t id, uint32_t error_code);
  int OnResponseFrameSent(const nghttp2_frame& frame);
  ssize_t ReadResponseBody(int32_t id, uint8_t* buf, size_t length, uint32_t* flags);
  int OnUpstreamFrame(UpstreamLink& link, const nghttp2_frame& frame);
  int OnUpstreamData(UpstreamLink& link, int32_t up_id, std::string_view data);
  int OnUpstreamStreamClose(UpstreamLink& link, int32_t up_id, uint32_t error_code);
  ssize_t ReadRequestBody(UpstreamLink& link, int32_t up_id, uint8_t* buf, size_t length,
                          uint32_t* flags);

 private:
  // I/O of either side's wire.
  // `link`: the upstream link the wire belongs to; null for the client's wire. Handlers hold
  // both, so neither is freed under a callback of its own session.
  void Read(std::shared_ptr<H2Wire> wire, std::shared_ptr<UpstreamLink> link);
  void OnRead(H2Wire& wire, UpstreamLink* link, const boost::system::error_code& ec, size_t n);
  bool Produce(const std::shared_ptr<H2Wire>& wire, const std::shared_ptr<UpstreamLink>& link);
  void FlushAll();
  void OnClientGone();
  void TearDown(bool shutdown);
  void CloseWire(H2Wire& wire);
  void WatchIdle(std::chrono::steady_clock::time_point at);
  void OnIdleCheck();
  // Streams between the two sides (h2_forward.cc; ReadResponseBody and ReadRequestBody too).
  void RouteUpstream(H2Stream& stream);
  void SubmitUpstream(H2Stream& stream, UpstreamLink& link);
  void StartResponse(H2Stream& stream, bool end_stream);
  void EndResponse(H2Stream& stream);
  void FailStream(H2Stream& stream, const char* message);
  void MaybeFailDeferred(H2Stream& stream);
  void DetachUpstream(H2Stream& stream, uint32_t error_code);
  void RetryRefused(H2Stream& stream, UpstreamLink& link);
  void Consume(H2Wire* wire, int32_t id, size_t n);
  // Upstream links (h2_upstream.cc).
  UpstreamLink* LinkForNewStream();
  UpstreamLink* Connect();
  void OnConnected(const std::shared_ptr<UpstreamLink>& link);
  void OnLinkReady(UpstreamLink& link);
  void OnLinkFailed(UpstreamLink& link, const char* reason);
  void ForgetLink(UpstreamLink& link);

  FramesWorker& worker_;
  FramesEnv& env_;
  const FramesConfig& config_;
  std::shared_ptr<H2Wire> down_;
  std::vector<std::shared_ptr<UpstreamLink>> links_;
  UpstreamLink* current_ = nullptr;  // the link new streams go to
  // A failed connect attempt makes new streams fail at once until retry_at_ (gRPC's backoff).
  std::chrono::steady_clock::time_point retry_at_;
  std::chrono::milliseconds backoff_{100};
  boost::intrusive::list<H2Stream, boost::intrusive::constant_time_size<false>> streams_;
  // The idle limit: since when the connection has had no stream, checked by one timer that is
  // re-armed only when it fires (never per call).
  boost::asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point idle_since_;
  bool gone_ = false;  // the client connection ended; nothing more is read or written
};

// Builds the callback tables; the caller frees them with nghttp2_session_callbacks_del.
nghttp2_session_callbacks* NewServerCallbacks();
nghttp2_session_callbacks* NewClientCallbacks();

}  // namespace lagscale::proxy::internal
