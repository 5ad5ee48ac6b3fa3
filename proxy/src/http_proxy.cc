#include "lagscale/proxy/http_proxy.h"

#include <stdexcept>
#include <string>

#include "lagscale/base/tcp_address.h"
#include "lagscale/base/thread_name.h"
#include "worker.h"

namespace lagscale::proxy {

HttpProxy::HttpProxy(const ProxyConfig& config, metrics::Ledger& ledger,
                     metrics::ServerCounters& counters)
    : config_(config), ledger_(ledger), counters_(counters) {
  if (config_.threads == 0) config_.threads = 1;
}

HttpProxy::~HttpProxy() { Stop(); }

void HttpProxy::Start() {
  const auto upstream =
      base::ResolveTcp({config_.upstream_host, config_.upstream_port}, "--upstream").OrThrow();
  auto listen = base::ResolveTcp({config_.listen_host, config_.listen_port}, "--listen").OrThrow();
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
  for (size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([w = workers_[i].get(), i] {
      base::NameThisThread("http-io-" + std::to_string(i));
      w->Run();
    });
  }
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
