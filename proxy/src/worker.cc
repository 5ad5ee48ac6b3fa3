#include "worker.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "client_connection.h"
#include "lagscale/base/tcp_address.h"

namespace lagscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Worker::Worker(size_t index, const ProxyConfig& config, asio::ip::tcp::endpoint upstream,
               metrics::Ledger& ledger, metrics::ServerCounters& counters)
    : config_(config),
      upstream_(std::move(upstream)),
      pool_(io_, slab_, config.max_idle_upstream),
      table_(ledger.table()),
      ledger_(ledger.shard(index)),
      turn_clock_(ledger.clock()),
      counters_(counters.shard(index)) {}

namespace {

// Accept errors that mean this process (or the system) has no descriptor or memory left for a
// new connection; they last until some connection closes.
bool OutOfResources(const error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec == boost::system::errc::too_many_files_open_in_system;
}

constexpr int kShedBatch = 64;

int OpenReserveFd() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

Worker::~Worker() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
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
  acceptor_.non_blocking(true);  // for the direct accepts in ShedPendingConnections()
  reserve_fd_ = OpenReserveFd();
  return acceptor_.local_endpoint().port();
}

void Worker::Run() {
  Accept();
  // Each handler is a turn of the ledger's TurnClock: whatever requests it begins and ends share
  // one clock reading.
  do {
    turn_clock_.NewTurn();
  } while (io_.run_one() > 0);
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
      if (reserve_fd_ < 0) reserve_fd_ = OpenReserveFd();
    } else if (OutOfResources(ec)) {
      OnAcceptError(ec);
      return;
    }
    // Other accept errors (a client that reset before we took it) concern one connection only.
    Accept();
  });
}

// Out of descriptors: the waiting connection stays in the queue and the listener stays readable,
// so accepting again at once would spin. Refuse what waits now (clients see their connection
// closed rather than hanging), then pause before accepting again; connections already open are
// not touched and recover as soon as descriptors are free.
void Worker::OnAcceptError(const error_code& ec) {
  metrics::ServerShardCounters::Add(counters_.accept_errors);
  if (ec == asio::error::no_descriptors ||
      ec == boost::system::errc::too_many_files_open_in_system) {
    ShedPendingConnections();
  }
  accept_pause_.expires_after(base::kAcceptErrorPause);
  accept_pause_.async_wait([this](const error_code& wait_ec) {
    if (!wait_ec && acceptor_.is_open()) Accept();
  });
}

void Worker::ShedPendingConnections() {
  if (reserve_fd_ < 0) return;
  ::close(reserve_fd_);
  for (int i = 0; i < kShedBatch; ++i) {
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) break;
    ::close(fd);
    metrics::ServerShardCounters::Add(counters_.connections_shed);
  }
  reserve_fd_ = OpenReserveFd();  // may fail if another thread took the descriptor: next time
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
    accept_pause_.cancel();
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
