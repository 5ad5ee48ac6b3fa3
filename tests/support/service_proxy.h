#pragma once

// ServiceProxy: a Kubernetes Service for integration tests. A TCP listener on loopback sends each
// new connection to one of its backends, round-robin among those whose readiness probe (GET
// /readyz on the backend's HTTP address) answered 200 at the last poll: what kube-proxy does with
// the endpoints of a Service (only ready pods are endpoints; a connection is balanced once, when
// it opens, and stays with its pod until either side closes it).
// Thread safety: construct and destroy on one thread; address() from any thread.

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/coordinator_harness.h"

namespace lagscale::testing {

class ServiceProxy {
 public:
  struct Backend {
    std::string target;  // host:port connections go to
    std::string probe;   // host:port answering GET /readyz
  };

  explicit ServiceProxy(std::vector<Backend> backends)
      : backends_(std::move(backends)), ready_(backends_.size()) {
    using boost::asio::ip::tcp;
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    Accept();
    io_thread_ = std::thread([this] { ioc_.run(); });
    probe_thread_ = std::thread([this] { Probe(); });
  }
  ~ServiceProxy() {
    stop_ = true;
    probe_thread_.join();
    ioc_.stop();
    io_thread_.join();
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  // Connections balanced so far to each backend.
  std::vector<int> balanced() const {
    std::vector<int> out;
    for (size_t i = 0; i < backends_.size(); ++i) out.push_back(balanced_[i].load());
    return out;
  }

 private:
  using tcp = boost::asio::ip::tcp;
  struct Pipe : std::enable_shared_from_this<Pipe> {
    explicit Pipe(tcp::socket c) : client(std::move(c)), server(client.get_executor()) {}
    tcp::socket client, server;
    std::array<char, 16384> up{}, down{};
    void Close() {
      boost::system::error_code ec;
      client.close(ec);
      server.close(ec);
    }
    void Relay(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf) {
      auto self = shared_from_this();
      from.async_read_some(boost::asio::buffer(buf), [self, &from, &to, &buf](
                                                         boost::system::error_code ec, size_t n) {
        if (ec) return self->Close();
        boost::asio::async_write(to, boost::asio::buffer(buf.data(), n),
                                 [self, &from, &to, &buf](boost::system::error_code ec, size_t) {
                                   if (ec) return self->Close();
                                   self->Relay(from, to, buf);
                                 });
      });
    }
  };

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      Connect(std::make_shared<Pipe>(std::move(socket)));
      Accept();
    });
  }

  void Connect(std::shared_ptr<Pipe> pipe) {
    // Round-robin over the ready endpoints; none ready: the connection is refused (closed).
    std::vector<size_t> ready;
    for (size_t i = 0; i < backends_.size(); ++i) {
      if (ready_[i].load()) ready.push_back(i);
    }
    if (ready.empty()) return pipe->Close();
    const size_t i = ready[next_++ % ready.size()];
    ++balanced_[i];
    const std::string& t = backends_[i].target;
    const tcp::endpoint ep(boost::asio::ip::make_address(t.substr(0, t.rfind(':'))),
                           static_cast<uint16_t>(std::stoi(t.substr(t.rfind(':') + 1))));
    pipe->server.async_connect(ep, [pipe](boost::system::error_code ec) {
      if (ec) return pipe->Close();
      pipe->Relay(pipe->client, pipe->server, pipe->up);
      pipe->Relay(pipe->server, pipe->client, pipe->down);
    });
  }

  // The readiness probe, every 100 ms (the chart probes every few seconds; tests want speed).
  void Probe() {
    while (!stop_) {
      for (size_t i = 0; i < backends_.size(); ++i) {
        ready_[i] = HttpGet(backends_[i].probe, "/readyz").status == 200;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  std::vector<Backend> backends_;
  std::vector<std::atomic<bool>> ready_;
  std::array<std::atomic<int>, 8> balanced_{};
  size_t next_ = 0;  // io thread only
  std::atomic<bool> stop_{false};
  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  std::thread io_thread_, probe_thread_;
};

}  // namespace lagscale::testing
