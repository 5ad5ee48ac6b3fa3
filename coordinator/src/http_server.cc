// Beast HTTP/1.1 server as Asio coroutines: accept loop + one coroutine per connection.
#include "lagscale/coordinator/http_server.h"

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <stdexcept>

namespace lagscale::coordinator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

asio::awaitable<void> Session(beast::tcp_stream stream, const HttpHandler& handler) {
  beast::flat_buffer buffer;
  try {
    for (;;) {
      stream.expires_after(std::chrono::seconds(60));
      http::request_parser<http::empty_body> parser;
      parser.header_limit(16 * 1024);
      co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
      auto& req = parser.get();
      HttpReply reply;
      try {
        reply = handler(std::string(req.method_string()), std::string(req.target()));
      } catch (const std::exception& e) {
        reply = HttpReply{500, "application/json", std::string("{\"error\":\"internal\"}")};
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
      res.set(http::field::content_type, reply.content_type);
      res.set(http::field::cache_control, "no-store");
      res.keep_alive(req.keep_alive());
      res.body() = req.method() == http::verb::head ? std::string() : std::move(reply.body);
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::use_awaitable);
      if (!res.keep_alive()) break;
    }
  } catch (const boost::system::system_error&) {
    // Closed, timed out or malformed: the connection ends here.
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> Listen(tcp::acceptor& acceptor, const HttpHandler& handler) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    asio::co_spawn(acceptor.get_executor(), Session(beast::tcp_stream(std::move(socket)), handler),
                   asio::detached);
  }
}

}  // namespace

std::pair<std::string, uint16_t> SplitHostPort(const std::string& address,
                                               const std::string& flag) {
  const auto colon = address.rfind(':');
  auto bad = [&]() {
    return std::invalid_argument(flag + ": invalid value \"" + address + "\" (expected HOST:PORT)");
  };
  if (colon == std::string::npos || colon + 1 == address.size()) throw bad();
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(address.substr(colon + 1), &used);
    if (used != address.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) throw bad();
  return {host, static_cast<uint16_t>(port)};
}

struct HttpServer::Impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  HttpHandler handler;
  std::thread thread;
};

HttpServer::HttpServer(const std::string& listen, HttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  const auto [host, port] = SplitHostPort(listen, "--http-listen");
  try {
    const tcp::endpoint ep(asio::ip::make_address(host), port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("--http-listen: cannot listen on \"" + listen +
                             "\": " + e.code().message());
  }
  asio::co_spawn(impl_->ioc, Listen(impl_->acceptor, impl_->handler), asio::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->ioc.stop();
  impl_->thread.join();
}

}  // namespace lagscale::coordinator
