#pragma once

// Test helpers for the coordinator suites (header-only so other test binaries do not pay for
// them): a child process with its stdout read line by line, an HTTP GET, polling with a deadline,
// and ScriptedHttpServer, an HTTP or HTTPS server whose replies a test scripts (status, headers,
// body, or hanging) and which records every request it saw.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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

extern char** environ;

namespace lagscale::testing {
// An inline namespace gives these helpers their own link names: support/process.h declares a
// ChildProcess and HttpGet of its own, and both are linked into every test binary.
inline namespace coordinator_harness {

// Polls `condition` until it holds or `timeout_s` passes.
template <class F>
bool PollUntil(F condition, double timeout_s = 5) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

// A child process; stdout is captured, stderr inherited. Killed (SIGTERM, then SIGKILL) on exit.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + argv[0]);
    }
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 300 && !Exited(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!exited_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
      }
    }
    if (out_ >= 0) close(out_);
  }
  pid_t pid() const { return pid_; }
  void Signal(int sig) { kill(pid_, sig); }

  // Reads stdout until a line starting with `prefix` (returned) or the deadline ("" then).
  std::string WaitForLine(const std::string& prefix, double timeout_s = 10) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.rfind(prefix, 0) == 0) return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(out_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Waits for exit; returns the exit code, or -1 on timeout / signal.
  int WaitExit(double timeout_s = 10) {
    PollUntil([&] { return Exited(); }, timeout_s);
    return exited_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  bool Exited() {
    if (!exited_ && waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string buffer_;
};

// "key=host:port" out of a ready line.
inline std::string ReadyField(const std::string& line, const std::string& key) {
  const auto at = line.find(key + "=");
  if (at == std::string::npos) return "";
  const auto start = at + key.size() + 1;
  return line.substr(start, line.find(' ', start) - start);
}

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

// GET http://`host_port``target` (host_port as "127.0.0.1:1234") with a 5 s deadline; status 0 if
// unreachable or too slow.
inline HttpResult HttpGet(const std::string& host_port, const std::string& target) {
  namespace http = boost::beast::http;
  HttpResult out;
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  boost::beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host_port);
  http::response<http::string_body> res;
  const auto colon = host_port.rfind(':');
  boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(host_port.substr(0, colon)),
                                    static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  stream.expires_after(std::chrono::seconds(5));
  stream.async_connect(ep, [&](boost::system::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](boost::system::error_code ec, size_t) {
      if (ec) return;
      http::async_read(stream, buffer, res, [&](boost::system::error_code ec, size_t) {
        if (ec) return;
        out.status = res.result_int();
        out.content_type = std::string(res[http::field::content_type]);
        out.body = res.body();
      });
    });
  });
  ioc.run();
  return out;
}

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

}  // namespace coordinator_harness
}  // namespace lagscale::testing
