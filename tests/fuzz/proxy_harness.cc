#include "proxy_harness.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "worker.h"

namespace lagscale::fuzz {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

void InvariantFailed(const char* what, std::string_view detail) {
  // Control bytes escaped, so CR/LF framing is visible in the report.
  std::string shown;
  for (const char c : detail) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      shown += "\\n\n";
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      shown += hex;
    } else {
      shown += c;
    }
  }
  std::fprintf(stderr, "INVARIANT FAILED: %s\n%s\n", what, shown.c_str());
  std::abort();
}

namespace {

// A listening socket on 127.0.0.1 with an OS-chosen port, made before the io_context that will
// own it exists (the worker creates its io_context, and needs the upstream's address first).
int ListenLoopback(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    InvariantFailed("harness: cannot listen on 127.0.0.1");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

void Add(metrics::ModelStats& into, const metrics::ModelStats& s, int64_t& min_inflight) {
  into.Add(s);
  min_inflight = std::min(min_inflight, s.inflight());
}

}  // namespace

// One upstream connection: parses requests strictly, answers each complete one.
class UpstreamSession : public std::enable_shared_from_this<UpstreamSession> {
 public:
  UpstreamSession(tcp::socket socket, ProxyHarness::Answerer& answerer,
                  ProxyHarness::Result*& result)
      : socket_(std::move(socket)),
        parser_({.max_header_bytes = 1 << 20, .max_body_bytes = 0}),
        answerer_(answerer),
        result_(result) {}

  void Read() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](const error_code& ec, size_t n) {
                              if (ec) return self->Close();
                              self->pending_.append(self->buf_.data(), n);
                              self->Parse();
                              if (self->socket_.is_open()) self->Read();
                            });
  }
  void Close() {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  void Parse() {
    size_t off = 0;
    while (off < pending_.size() && socket_.is_open() && !closing_) {
      off += parser_.Feed(pending_.data() + off, pending_.size() - off, scratch_);
      scratch_.clear();
      if (parser_.failed()) {
        if (result_) result_->upstream_parse_error = "upstream parser refused: " + pending_;
        return Close();
      }
      if (!parser_.message_done()) break;
      if (result_) {
        ++result_->upstream_requests;
        result_->upstream_heads.push_back(parser_.is_head_method());
      }
      UpstreamAnswer answer = answerer_(parser_);
      parser_.NextMessage();
      out_ += answer.bytes;
      closing_ = answer.close;
      Write();
    }
    pending_.erase(0, off);
  }
  void Write() {
    if (writing_ || out_.empty()) {
      if (!writing_ && closing_) Shutdown();
      return;
    }
    writing_ = true;
    sending_.swap(out_);
    asio::async_write(socket_, asio::buffer(sending_),
                      [self = shared_from_this()](const error_code& ec, size_t) {
                        self->writing_ = false;
                        self->sending_.clear();
                        if (ec) return self->Close();
                        self->Write();
                      });
  }
  void Shutdown() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    Close();
  }

  tcp::socket socket_;
  proxy::RequestStream parser_;
  ProxyHarness::Answerer& answerer_;
  ProxyHarness::Result*& result_;
  std::array<char, 16384> buf_;
  std::string pending_, scratch_, out_, sending_;
  bool writing_ = false;
  bool closing_ = false;
};

struct ProxyHarness::Impl {
  Impl(const proxy::ProxyConfig& config, Answerer a)
      : answerer(std::move(a)), table(16), ledger(table, 1), counters(1) {
    uint16_t up_port = 0;
    const int up_fd = ListenLoopback(up_port);
    worker = std::make_unique<proxy::Worker>(
        0, config, tcp::endpoint(asio::ip::address_v4::loopback(), up_port), ledger, counters);
    proxy_port = worker->Bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    up_acceptor = std::make_unique<tcp::acceptor>(worker->io(), tcp::v4(), up_fd);
    // Worker::Run() starts accepting and runs the loop; stopped first, it only starts accepting,
    // and the harness drives the loop itself.
    worker->Stop();
    worker->Run();
    worker->io().restart();
    AcceptUpstream();
  }

  void AcceptUpstream() {
    up_acceptor->async_accept([this](const error_code& ec, tcp::socket s) {
      if (ec) return;
      auto session = std::make_shared<UpstreamSession>(std::move(s), answerer, result);
      sessions.push_back(session);
      session->Read();
      AcceptUpstream();
    });
  }

  // Runs handlers until none is ready and none becomes ready within a short wait. (Loopback
  // delivers bytes within the send call, so the wait is a safety net, not a guess at latency.)
  void Settle() {
    auto& io = worker->io();
    for (;;) {
      if (io.poll() > 0) continue;
      if (io.run_one_for(std::chrono::microseconds(300)) == 0) return;
    }
  }

  void ReadClient(tcp::socket& client, bool& eof) {
    client.async_read_some(asio::buffer(client_buf),
                           [this, &client, &eof](const error_code& ec, size_t n) {
                             if (ec) {
                               eof = true;
                               return;
                             }
                             result->to_client.append(client_buf.data(), n);
                             ReadClient(client, eof);
                           });
  }

  metrics::ModelStats Totals(int64_t& min_inflight) const {
    const metrics::LedgerSnapshot snap = ledger.Snapshot();
    metrics::ModelStats total;
    min_inflight = 0;
    for (const auto& [name, stats] : snap.models) Add(total, stats, min_inflight);
    Add(total, snap.unattributed, min_inflight);
    Add(total, snap.overflow, min_inflight);
    return total;
  }

  Answerer answerer;
  metrics::ModelTable table;
  metrics::Ledger ledger;
  metrics::ServerCounters counters;
  std::unique_ptr<proxy::Worker> worker;
  std::unique_ptr<tcp::acceptor> up_acceptor;
  std::vector<std::weak_ptr<UpstreamSession>> sessions;
  uint16_t proxy_port = 0;
  Result* result = nullptr;
  std::array<char, 16384> client_buf;
};

ProxyHarness::ProxyHarness(const proxy::ProxyConfig& config, Answerer answerer)
    : impl_(std::make_unique<Impl>(config, std::move(answerer))) {}

ProxyHarness::~ProxyHarness() = default;

ProxyHarness::Result ProxyHarness::Run(std::string_view client_bytes) {
  Impl& h = *impl_;
  Result result;
  h.result = &result;
  int64_t ignored_min = 0;
  const metrics::ModelStats before = h.Totals(ignored_min);

  tcp::socket client(h.worker->io());
  // Connected through the loop, not with a blocking connect(): libFuzzer's timer signal would
  // interrupt that (EINTR), and the proxy accepts on this very thread.
  bool connected = false;
  error_code connect_ec;
  client.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), h.proxy_port),
                       [&](const error_code& ec) {
                         connected = true;
                         connect_ec = ec;
                       });
  while (!connected) h.Settle();
  if (connect_ec) InvariantFailed("harness: cannot connect to the proxy", connect_ec.message());
  client.non_blocking(true);
  bool eof = false;
  h.ReadClient(client, eof);
  size_t sent = 0;
  while (sent < client_bytes.size()) {
    error_code ec;
    sent += client.write_some(asio::buffer(client_bytes.substr(sent)), ec);
    if (!ec) continue;
    if (ec != asio::error::would_block && ec != asio::error::try_again) break;
    h.Settle();  // the proxy is behind: let it read
  }
  h.Settle();
  error_code ignored;
  client.shutdown(tcp::socket::shutdown_send, ignored);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((!eof || h.worker->open_connections() != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    if (h.worker->io().poll() == 0) h.worker->io().run_one_for(std::chrono::milliseconds(5));
  }
  result.closed = eof && h.worker->open_connections() == 0;
  client.close(ignored);
  h.worker->pool().CloseAll();
  for (auto& weak : h.sessions) {
    if (auto session = weak.lock()) session->Close();
  }
  h.sessions.clear();
  h.worker->io().poll();  // what is left (aborted reads) completes here or in the next run
  h.result = nullptr;

  metrics::ModelStats after = h.Totals(result.min_inflight_after);
  result.inflight_after = after.inflight();
  result.delta.arrivals = after.arrivals - before.arrivals;
  for (size_t i = 0; i < metrics::kOutcomeCount; ++i) {
    result.delta.outcomes[i] = after.outcomes[i] - before.outcomes[i];
  }
  return result;
}

}  // namespace lagscale::fuzz
