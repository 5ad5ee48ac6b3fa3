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

#include "lagscale/base/host_port.h"
#include "listener.h"

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
