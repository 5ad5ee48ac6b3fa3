#include "worker.h"

#include <sys/socket.h>

#include "client_connection.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Worker::Worker(size_t index, const ProxyConfig& config, asio::ip::tcp::endpoint upstream,
               metrics::Ledger& ledger, metrics::ServerCounters& counters)
    : index_(index),
      config_(config),
      upstream_(std::move(upstream)),
      pool_(io_, slab_, config.max_idle_upstream),
      table_(ledger.table()),
      ledger_(ledger.shard(index)),
      counters_(counters.shard(index)) {}

Worker::~Worker() {
  // Connections still linked (the loop was stopped with them open) are owned by handlers that
  // the io_context destroys; unlink first so their hooks do not point into a dead list.
  connections_.clear();
}

uint16_t Worker::Bind(const asio::ip::tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.set_option(ReusePort(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint().port();
}

void Worker::Run() {
  Accept();
  io_.run();
}

void Worker::Accept() {
  acceptor_.async_accept(io_, [this](const error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      metrics::ServerShardCounters::Add(counters_.connections_accepted);
      open_.store(open_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      auto conn = std::make_shared<ClientConnection>(*this, std::move(socket));
      connections_.push_back(*conn);
      conn->Start();
    }
    // Accept errors (e.g. out of descriptors) are not fatal: keep accepting.
    Accept();
  });
}

void Worker::OnConnectionClosed() {
  metrics::ServerShardCounters::Add(counters_.connections_closed);
  open_.store(open_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

void Worker::StopAccepting() {
  asio::post(io_, [this] {
    draining_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    pool_.CloseAll();
    // OnDrain() may close (and unlink) the connection; step past it first.
    for (auto it = connections_.begin(); it != connections_.end();) {
      Drainable& conn = *it++;
      conn.OnDrain();
    }
  });
}

void Worker::Stop() { io_.stop(); }

}  // namespace lagscale::proxy
