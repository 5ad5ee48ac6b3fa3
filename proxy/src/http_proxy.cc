#include "lagscale/proxy/http_proxy.h"

#include <stdexcept>
#include <string>

#include "worker.h"

namespace lagscale::proxy {

namespace asio = boost::asio;

namespace {

asio::ip::tcp::endpoint ResolveOne(const std::string& host, uint16_t port, const char* what) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error(std::string("cannot resolve ") + what + " " + host + ":" +
                             std::to_string(port) + ": " + ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace

HttpProxy::HttpProxy(const ProxyConfig& config, metrics::Ledger& ledger,
                     metrics::ServerCounters& counters)
    : config_(config), ledger_(ledger), counters_(counters) {
  if (config_.threads == 0) config_.threads = 1;
}

HttpProxy::~HttpProxy() { Stop(); }

void HttpProxy::Start() {
  const auto upstream = ResolveOne(config_.upstream_host, config_.upstream_port, "--upstream");
  auto listen = ResolveOne(config_.listen_host, config_.listen_port, "--listen");
  for (size_t i = 0; i < config_.threads; ++i) {
    auto worker = std::make_unique<Worker>(i, config_, upstream, ledger_, counters_);
    try {
      port_ = worker->Bind(listen);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on --listen " + config_.listen_host + ":" +
                               std::to_string(listen.port()) + ": " + e.code().message());
    }
    listen.port(port_);  // port 0: the first worker chose; the others share its port
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) threads_.emplace_back([w = worker.get()] { w->Run(); });
  accepting_.store(true);
}

void HttpProxy::StopAccepting() {
  accepting_.store(false);
  for (auto& worker : workers_) worker->StopAccepting();
}

size_t HttpProxy::open_connections() const {
  size_t n = 0;
  for (const auto& worker : workers_) n += worker->open_connections();
  return n;
}

void HttpProxy::Stop() {
  accepting_.store(false);
  for (auto& worker : workers_) worker->Stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  workers_.clear();
}

}  // namespace lagscale::proxy
