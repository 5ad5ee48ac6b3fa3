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

#include "http_reply.h"
#include "lagscale/base/host_port.h"
#include "listener.h"

namespace lagscale::coordinator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

asio::awaitable<void> Write(beast::tcp_stream& stream, HttpReply reply, unsigned version,
                            bool keep_alive, bool head) {
  auto res = ResponseFor(std::move(reply), version, keep_alive, head);
  co_await http::async_write(stream, res, asio::use_awaitable);
}

asio::awaitable<void> Session(beast::tcp_stream stream, const HttpHandler& handler) {
  beast::flat_buffer buffer;
  try {
    for (;;) {
      stream.expires_after(std::chrono::seconds(60));
      // No endpoint takes a body: a small one is read and ignored (the handler answers 405).
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(64 * 1024);
      beast::error_code ec;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        // Malformed or over a limit: say why, then close. A peer that left gets nothing.
        if (auto reply = ParseErrorReply(ec)) co_await Write(stream, *reply, 11, false, false);
        break;
      }
      auto& req = parser.get();
      HttpReply reply;
      try {
        reply = handler(std::string(req.method_string()), std::string(req.target()));
      } catch (const std::exception& e) {
        reply = HttpReply{500, "application/json", std::string("{\"error\":\"internal\"}")};
      }
      const bool keep_alive = req.keep_alive();
      co_await Write(stream, std::move(reply), req.version(), keep_alive,
                     req.method() == http::verb::head);
      if (!keep_alive) break;
    }
  } catch (const boost::system::system_error&) {
    // Closed or timed out while writing: the connection ends here.
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

std::pair<std::string, uint16_t> SplitHostPort(const std::string& address,
                                               const std::string& flag) {
  const auto parsed = base::ParseHostPort(address, flag, base::EmptyHost::kWildcard);
  if (!parsed) throw std::invalid_argument(parsed.error());
  return {parsed->host, parsed->port};
}

struct HttpServer::Impl {
  Impl(const std::string& listen, HttpHandler h)
      : handler(std::move(h)), listener(listen, "--http-listen") {}

  HttpHandler handler;
  Listener listener;  // after the handler: its sessions use the handler until it stops
};

HttpServer::HttpServer(const std::string& listen, HttpHandler handler)
    : impl_(std::make_unique<Impl>(listen, std::move(handler))) {
  impl_->listener.Start([this](tcp::socket socket) {
    asio::co_spawn(impl_->listener.io_context(),
                   Session(beast::tcp_stream(std::move(socket)), impl_->handler), asio::detached);
  });
}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->listener.port(); }

void HttpServer::Stop() { impl_->listener.Stop(); }

}  // namespace lagscale::coordinator
