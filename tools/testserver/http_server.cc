#include "http_server.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>

#include "async_slot.h"
#include "rest_handler.h"
#include "v2_json.h"

namespace lagscale::testserver {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using net::awaitable;
using net::redirect_error;
using net::use_awaitable;
using net::ip::tcp;

constexpr uint64_t kMaxBodyBytes = 64ull << 20;
constexpr uint32_t kMaxHeaderBytes = 64u << 10;
constexpr auto kIdleTimeout = std::chrono::seconds(300);

// A request Beast could not parse gets a status that says why, then the connection closes.
unsigned StatusForParseError(const beast::error_code& ec) {
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::header_limit) return 431;
  return 400;
}

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

awaitable<void> Session(tcp::socket socket, Capacity& capacity) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);  // events and small responses go out at once
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    parser.header_limit(kMaxHeaderBytes);
    stream.expires_after(kIdleTimeout);
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec) {
      if (IsParseError(ec)) {
        Request request;
        request.keep_alive(false);
        co_await WriteResponse(stream,
                               JsonResponse(request, StatusForParseError(ec),
                                            ErrorJson("bad HTTP request: " + ec.message())));
      }
      break;
    }
    stream.expires_never();
    if (!co_await HandleRequest(capacity, parser.get(), stream)) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

awaitable<void> AcceptLoop(tcp::acceptor& acceptor, IoPool& pool, Capacity& capacity) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(pool.Next(), redirect_error(use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors, most likely: back off instead of spinning.
      spdlog::warn("http accept: {}", ec.message());
      co_await SleepMs(50);
      continue;
    }
    auto executor = socket.get_executor();
    net::co_spawn(executor, Session(std::move(socket), capacity), net::detached);
  }
}

}  // namespace

HttpServer::HttpServer(IoPool& pool, Capacity& capacity, const tcp::endpoint& endpoint)
    : pool_(pool), capacity_(capacity), acceptor_(pool.Next()) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void HttpServer::Start() {
  net::co_spawn(acceptor_.get_executor(), AcceptLoop(acceptor_, pool_, capacity_), net::detached);
}

void HttpServer::Stop() {
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
}

}  // namespace lagscale::testserver
