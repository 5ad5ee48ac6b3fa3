#include "listener.h"

#include <spdlog/spdlog.h>

#include <boost/beast/http/error.hpp>

#include "lagscale/base/tcp_address.h"
#include "lagscale/base/thread_name.h"
#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// "--http-listen" -> "http": the thread is named after what it serves.
std::string ThreadNameOf(std::string flag) {
  if (flag.rfind("--", 0) == 0) flag.erase(0, 2);
  const std::string suffix = "-listen";
  if (flag.size() > suffix.size() &&
      flag.compare(flag.size() - suffix.size(), suffix.size(), suffix) == 0) {
    flag.resize(flag.size() - suffix.size());
  }
  return flag;
}

}  // namespace

std::optional<HttpReply> ParseErrorReply(const boost::system::error_code& ec) {
  namespace http = boost::beast::http;
  if (ec == http::error::body_limit)
    return HttpReply{413, "application/json", R"({"error":"body too large"})"};
  if (ec == http::error::header_limit)
    return HttpReply{431, "application/json", R"({"error":"headers too large"})"};
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return HttpReply{400, "application/json", R"({"error":"malformed HTTP request"})"};
  }
  return std::nullopt;
}

Listener::Listener(const std::string& listen, const std::string& flag)
    : thread_name_(ThreadNameOf(flag)) {
  const auto [host, port] = SplitHostPort(listen, flag);
  base::ListenTcp(acceptor_, {host, port}, flag).OrThrow();
}

Listener::~Listener() { Stop(); }

void Listener::Start(OnAccept on_accept) {
  on_accept_ = std::move(on_accept);
  asio::co_spawn(ioc_, AcceptLoop(), asio::detached);
  thread_ = std::thread([this] {
    base::NameThisThread(thread_name_);
    ioc_.run();
  });
}

void Listener::Stop() {
  if (!thread_.joinable()) return;
  ioc_.stop();
  thread_.join();
}

asio::awaitable<void> Listener::AcceptLoop() {
  asio::steady_timer pause(ioc_);
  bool failing = false;
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec == asio::error::connection_aborted) continue;  // the client left before we took it
    if (ec) {
      // Out of descriptors or memory: one line per episode, and a pause instead of a spin.
      if (!failing) spdlog::warn("{}: cannot accept connections: {}", thread_name_, ec.message());
      failing = true;
      pause.expires_after(base::kAcceptErrorPause);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    if (failing) spdlog::info("{}: accepting connections again", thread_name_);
    failing = false;
    on_accept_(std::move(socket));
  }
}

}  // namespace lagscale::coordinator
