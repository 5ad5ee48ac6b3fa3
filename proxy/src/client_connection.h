#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio.hpp>

#include "lagscale/metrics/ledger.h"
#include "lagscale/proxy/request_stream.h"
#include "lagscale/proxy/response_stream.h"
#include "upstream_pool.h"
#include "worker.h"

namespace lagscale::proxy {

// ClientConnection: one client connection and the exchange in progress on it.
//
// Two loops run at once, so bodies stream in both directions with bounded memory:
//   client -> RequestStream -> upstream  (read a buffer, write it on, only then read again)
//   upstream -> ResponseStream -> client (the same, the other way)
// Requests are handled one at a time; pipelined ones wait, unparsed, in the read buffer. While a
// request waits for its response the client socket stays read, so a client that leaves is seen at
// once (the exchange then ends as client_abort and the upstream connection is dropped).
// Every request is a RequestGuard from the worker's ledger shard, ended exactly once.
//
// When a request starts to count: a request whose model is in a header or its path begins in the
// ledger as soon as its head is parsed. An OpenAI-compatible request whose model is in its body
// (RequestStream::model_in_body()) begins once that is known: when the top-level "model" value
// has streamed by, or when the body ended, turned out not to be a JSON object or the final
// response head arrived without one (then unattributed). Its bytes are forwarded all along; it
// just is not in flight for any model before that point. An exchange that ends before then
// (client gone, error) begins and ends at that moment, unattributed: every request still begins
// and ends exactly once. Guard() is the only way to the guard, so no path can skip the begin.
// For OpenAI requests the answer's first output and usage tokens go to the same guard.
// Thread safety: none; lives on its worker's thread. Async operations hold a shared_ptr to it.
class ClientConnection final : public std::enable_shared_from_this<ClientConnection>,
                               public Drainable {
 public:
  using Clock = std::chrono::steady_clock;

  ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~ClientConnection();
  void Start();
  // Graceful drain: closes the connection now if it is between requests, else after the response.
  void OnDrain() override;

 private:
  // Where the connection stands. It moves forward only, except kExchange -> kIdle when a response
  // ended and the connection stays open for the next request:
  //   kIdle -> kExchange -> kIdle ...          (keep-alive; pipelined requests wait in in_)
  //   kIdle | kExchange -> kAnswering -> kLingering -> kClosed   (the proxy's own error answer)
  //   any -> kClosed                            (client gone, timeout, drain, failure mid-response)
  enum class Phase : uint8_t {
    kIdle,       // no exchange: waiting for a request, or reading its head
    kExchange,   // a request's head was parsed and its response has not ended (see exchange_)
    kAnswering,  // writing the proxy's own error answer; the connection closes after it
    kLingering,  // the error answer is out: discarding what the client still sends, then closing
    kClosed,
  };

  // The request in progress; meaningful in Phase::kExchange, reset whole by StartExchange().
  struct Exchange {
    Clock::time_point start;         // the request's upstream budget runs from here
    int64_t arrival_ns = 0;          // ledger clock, for the time to first output
    bool awaiting_model = false;     // the model is still streaming in its body: no guard yet
    bool openai = false;             // an OpenAI-compatible request, its answer not counted yet
    bool first_output_seen = false;  // the time to first output was recorded
    bool retried = false;            // the request was already sent again once
    int connect_attempts = 0;
    int not_taken = 0;  // new connections the upstream never took
  };

  // Where opening an upstream connection for the current request stands.
  enum class ConnectPhase : uint8_t {
    kIdle,        // not opening one (there is one, or none is needed yet)
    kInProgress,  // an attempt is under way (the upstream timer bounds it)
    kBackoff,     // waiting a moment before the next attempt (the upstream timer ends it)
  };

  bool closed() const { return phase_ == Phase::kClosed; }

  // Client side (client_connection.cc).
  void Process();
  void StartExchange();
  void StartResponse();
  void MaybeReadClient();
  void OnClientReadable(const boost::system::error_code& ec);
  void OnClientRead(const boost::system::error_code& ec, size_t n);
  void WriteClient();
  void OnClientWritten(const boost::system::error_code& ec);
  void MaybeFinishExchange();
  void BeginWhenRouted();
  metrics::RequestGuard& Guard();
  void RecordFirstOutput();
  void AccountAnswer(bool complete);

  // Error answers, client timeouts and closing (client_connection_errors.cc).
  void OnRequestError();
  void SendErrorAndClose(int status, std::string_view reason, std::string_view body,
                         metrics::Outcome outcome);
  void Linger();
  void Close();
  void ArmClientTimer();
  void OnClientTimer();
  void OnClientWriteTimeout();

  // Upstream side (client_connection_upstream.cc).
  void AcquireUpstream();
  void Connect();
  void OnConnected(const boost::system::error_code& ec);
  void ConnectFailed(std::string_view why);
  bool RetryConnectLater(int step);
  void OnUpstreamReady();
  void FlushUpstream();
  void OnUpstreamWritten(bool keep_for_replay, const boost::system::error_code& ec);
  void ReadUpstream();
  void OnUpstreamRead(const boost::system::error_code& ec, size_t n);
  void UpstreamFailed(std::string_view why);
  bool CanRetryRequest() const;
  void DropUpstream();
  void SetUpstreamDeadline(Clock::time_point deadline);
  void ArmUpstreamTimer(Clock::time_point at);
  bool ConfirmUpstreamTookRequest();
  void OnUpstreamTimer(const boost::system::error_code& ec);

  Worker& worker_;
  boost::asio::ip::tcp::socket client_;
  RequestStream request_;
  ResponseStream response_;
  metrics::RequestGuard guard_;
  std::shared_ptr<UpstreamConn> upstream_;

  // Client bytes; [in_begin_, in_end_) are read but not parsed yet. The buffers come from the
  // worker's pool and go back as soon as they hold nothing (in_: all parsed; up_in_: the exchange
  // ended), so a connection waiting for its next request holds neither.
  BufferPool::Buffer in_;
  size_t in_begin_ = 0, in_end_ = 0;
  BufferPool::Buffer up_in_;
  std::string to_upstream_;  // bytes owed to the upstream (at most one parsed buffer's worth)
  std::string replay_;  // an idempotent request kept whole until its response starts (retry once)
  std::string to_client_;  // bytes owed to the client

  boost::asio::steady_timer client_timer_;
  Clock::time_point client_deadline_ = Clock::time_point::max();
  Clock::time_point client_write_deadline_ = Clock::time_point::max();
  Clock::duration client_tick_;
  boost::asio::steady_timer upstream_timer_;
  Clock::time_point upstream_deadline_ = Clock::time_point::max();
  Clock::time_point upstream_expiry_ = Clock::time_point::max();
  bool upstream_timer_armed_ = false;

  Phase phase_ = Phase::kIdle;
  Exchange exchange_;
  // The socket operations in flight; each side may read and write at once.
  bool client_reading_ = false;
  bool client_writing_ = false;
  bool upstream_reading_ = false;
  bool upstream_writing_ = false;
  ConnectPhase connect_ = ConnectPhase::kIdle;
  bool sent_any_ = false;  // a byte of the request reached the current upstream connection
  // A request sent whole on a new connection, not yet acknowledged by the upstream's TCP: checked
  // at confirm_at_ (see ConfirmUpstreamTookRequest()).
  bool unconfirmed_ = false;
  Clock::time_point confirm_at_;
};

}  // namespace lagscale::proxy
