#include "h2_engine.h"

#include <algorithm>
#include <cctype>
#include <future>
#include <stdexcept>

#include "lagscale/base/host_port.h"
#include "lagscale/base/thread_name.h"

namespace lagscale::proxy::internal {
namespace asio = boost::asio;
using boost::system::error_code;

FramesWorker::FramesWorker(const FramesConfig& config, FramesEnv env)
    : config_(config), turn_clock_(env.shard->clock()), env_(env),
      work_(asio::make_work_guard(io_)) {
  env_.turn_clock = &turn_clock_;
}

FramesWorker::~FramesWorker() {
  work_.reset();
  sessions_.clear();
}

void FramesWorker::Run() {
  // Each handler is a turn of the ledger's clock: the calls it begins and ends share one reading.
  do {
    turn_clock_.NewTurn();
  } while (io_.run_one() > 0);
}

void FramesWorker::Adopt(asio::ip::tcp::socket socket) {
  asio::post(io_, [this, s = std::move(socket)]() mutable {
    std::make_shared<ClientSession>(*this, std::move(s))->Start();
  });
}

template <typename F>
void FramesWorker::ForEachSession(F f) {
  // A session may unlink itself (or others) while it is handled: walk a copy of the list.
  std::vector<std::shared_ptr<ClientSession>> sessions;
  for (ClientSession& s : sessions_) sessions.push_back(s.shared_from_this());
  for (auto& s : sessions) f(*s);
}

void FramesWorker::Drain() {
  asio::post(io_, [this] { ForEachSession([](ClientSession& s) { s.Drain(); }); });
}

void FramesWorker::CancelAndStop() {
  std::promise<void> done;
  asio::post(io_, [this, &done] {
    ForEachSession([](ClientSession& s) { s.Cancel(); });
    done.set_value();
  });
  done.get_future().wait();
  work_.reset();
  io_.stop();
}

FramesEngine::FramesEngine(GrpcProxyOptions options, metrics::Ledger& ledger, size_t first_shard,
                           size_t shard_count, metrics::ServerCounters* counters)
    : options_(std::move(options)),
      ledger_(ledger),
      counters_(counters),
      first_(first_shard),
      count_(shard_count) {}

FramesEngine::~FramesEngine() {
  Shutdown(std::chrono::milliseconds(0));
  if (config_.server_callbacks) nghttp2_session_callbacks_del(config_.server_callbacks);
  if (config_.client_callbacks) nghttp2_session_callbacks_del(config_.client_callbacks);
  if (config_.option) nghttp2_option_del(config_.option);
}

void FramesEngine::Start() {
  if (count_ == 0 || first_ + count_ > ledger_.shard_count() ||
      (counters_ && first_ + count_ > counters_->shard_count())) {
    throw std::invalid_argument("gRPC proxy: ledger shards out of range");
  }
  const auto upstream = base::ParseHostPort(options_.upstream, "--grpc-upstream");
  if (!upstream) throw std::invalid_argument(upstream.error());
  config_.upstream_host = upstream->host;
  config_.upstream_port = std::to_string(upstream->port);
  config_.connect_timeout = options_.connect_timeout;
  config_.idle_timeout = options_.idle_timeout;
  config_.server_callbacks = NewServerCallbacks();
  config_.client_callbacks = NewClientCallbacks();
  nghttp2_option_new(&config_.option);
  // Windows reopen only for bytes handed to the other side (ClientSession::Consume).
  nghttp2_option_set_no_auto_window_update(config_.option, 1);
  for (size_t i = 0; i < count_; ++i) {
    FramesEnv env;
    env.shard = &ledger_.shard(first_ + i);
    env.counters = counters_ ? &counters_->shard(first_ + i) : nullptr;
    env.table = &ledger_.table();
    env.model_headers = &options_.model_headers;
    env.live = &live_;
    workers_.push_back(std::make_unique<FramesWorker>(config_, env));
  }
  Listen();
  for (size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([w = workers_[i].get(), i] {
      base::NameThisThread("grpc-io-" + std::to_string(i));
      w->Run();
    });
  }
}

// Binds exclusively (no SO_REUSEPORT), as the HTTP listener and the calls engine do.
void FramesEngine::Listen() {
  const std::string what = "cannot listen for gRPC on --grpc-listen " + options_.listen + ": ";
  const auto listen = base::ParseHostPort(options_.listen, "--grpc-listen");
  if (!listen) throw std::runtime_error(what + listen.error());
  error_code ec;
  auto& io = workers_[0]->io();
  auto results = asio::ip::tcp::resolver(io).resolve(listen->host, std::to_string(listen->port),
                                                     ec);
  if (!ec && results.empty()) ec = asio::error::host_not_found;
  if (ec) throw std::runtime_error(what + ec.message());
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io);
  accept_pause_ = std::make_unique<asio::steady_timer>(io);
  const auto endpoint = results.begin()->endpoint();
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(what + ec.message());
  port_ = acceptor_->local_endpoint().port();
  Accept();
}

// Connections go to the workers in turn; each stays on its worker for life.
void FramesEngine::Accept() {
  FramesWorker& next = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(next.io(), [this, &next](const error_code& ec,
                                                   asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
    if (!ec) {
      next.Adopt(std::move(socket));
      Accept();
      return;
    }
    // Out of descriptors (or memory): accepting again at once would spin until one frees up.
    accept_pause_->expires_after(std::chrono::milliseconds(100));
    accept_pause_->async_wait([this](const error_code& wait_ec) {
      if (!wait_ec && acceptor_->is_open()) Accept();
    });
  });
}

std::string FramesEngine::address() const {
  base::HostPort listen{"", static_cast<uint16_t>(port_)};
  if (auto parsed = base::ParseHostPort(options_.listen)) listen.host = parsed->host;
  return base::Dialable(listen).ToString();
}

void FramesEngine::Shutdown(std::chrono::milliseconds drain) {
  if (stopped_ || workers_.empty()) return;
  stopped_ = true;
  if (acceptor_) {
    std::promise<void> closed;
    asio::post(workers_[0]->io(), [this, &closed] {
      error_code ignored;
      acceptor_->close(ignored);
      accept_pause_->cancel();
      closed.set_value();
    });
    if (!threads_.empty()) closed.get_future().wait();
  }
  for (auto& worker : workers_) worker->Drain();
  const auto limit = std::chrono::steady_clock::now() + drain;
  while (live_.load() > 0 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (threads_.empty()) return;  // Start() failed before the threads ran
  for (auto& worker : workers_) worker->CancelAndStop();
  for (auto& t : threads_) t.join();
  accept_pause_.reset();
  acceptor_.reset();
}

}  // namespace lagscale::proxy::internal
