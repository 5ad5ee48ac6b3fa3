#pragma once

// ScriptedHttpServer for the coordinator suites (header-only so other test binaries do not pay for
// it): an HTTP or HTTPS server whose replies a test scripts (status, headers, body, or hanging)
// and which records every request it saw. Child processes, HTTP requests and polling come from
// support/process.h, included here for the suites that use both.

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace lagscale::testing {

struct RecordedRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool client_certificate = false;             // TLS: the client presented a verified certificate
  std::chrono::steady_clock::time_point at;    // when the request was read
};

struct ScriptedReply {
  ScriptedReply() = default;
  ScriptedReply(int s, std::string b = "", std::vector<std::pair<std::string, std::string>> h = {},
                bool hang_up = false)
      : status(s), body(std::move(b)), headers(std::move(h)), hang(hang_up) {}
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;  // accept the request and never answer (until the server stops)
};

// Plain HTTP; KubeEmulator (k8s_emulator.h) adds TLS by overriding Serve().
class ScriptedHttpServer {
 public:
  // `start` false: a derived class calls Start() once it is fully built.
  explicit ScriptedHttpServer(bool start = true) {
    using boost::asio::ip::tcp;
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    if (start) Start();
  }
  virtual ~ScriptedHttpServer() { Stop(); }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    try {  // wake the blocking accept
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::socket s(ioc);
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    } catch (const std::exception&) {
    }
    if (thread_.joinable()) thread_.join();
    for (auto& t : connections_) t.join();
    connections_.clear();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "") const {
    return std::string(tls() ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Replies used in order, one per request; after they run out, `handler` (default: 200 "{}").
  void Push(ScriptedReply reply) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(reply));
  }
  void SetHandler(std::function<ScriptedReply(const RecordedRequest&)> handler) {
    std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }
  std::vector<RecordedRequest> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t RequestCount() {
    std::lock_guard lock(mu_);
    return requests_.size();
  }

 protected:
  void Start() {
    thread_ = std::thread([this] { Accept(); });
  }

  void Accept() {
    for (;;) {
      boost::asio::ip::tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      if (ec) continue;
      connections_.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  template <class Stream>
  void Exchange(Stream& stream, bool client_cert) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(stream, buffer, req);
    RecordedRequest rec{
        std::string(req.method_string()), std::string(req.target()), req.body(), {}, client_cert,
        std::chrono::steady_clock::now()};
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      rec.headers[name] = std::string(f.value());
    }
    ScriptedReply reply;
    std::function<ScriptedReply(const RecordedRequest&)> handler;
    bool scripted = false;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(rec);
      if (!script_.empty()) {
        reply = std::move(script_.front());
        script_.pop_front();
        scripted = true;
      } else {
        handler = handler_;
      }
    }
    if (!scripted) reply = handler ? handler(rec) : ScriptedReply{200, "{}"};
    if (reply.hang) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_; });
      return;
    }
    http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
    res.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : reply.headers) res.set(k, v);
    res.body() = reply.body;
    res.keep_alive(false);
    res.prepare_payload();
    http::write(stream, res);
  }

  virtual bool tls() const { return false; }
  virtual void Serve(boost::asio::ip::tcp::socket socket) {
    try {
      Exchange(socket, false);
      boost::system::error_code ec;
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    } catch (const std::exception&) {
      // The client gave up (e.g. its timeout during a hang).
    }
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<ScriptedReply> script_;
  std::function<ScriptedReply(const RecordedRequest&)> handler_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
  std::vector<std::thread> connections_;  // only touched by the accept thread, then joined
};

}  // namespace lagscale::testing
