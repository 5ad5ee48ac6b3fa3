#include "sse.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

namespace lagscale::testserver {

namespace http = boost::beast::http;
using boost::asio::awaitable;
using boost::asio::redirect_error;
using boost::asio::use_awaitable;

SseWriter::SseWriter(boost::beast::tcp_stream& stream, const Request& request)
    : stream_(stream),
      version_(request.version()),
      // HTTP/1.0 has no chunked encoding: the events then end with the connection.
      chunked_(request.version() >= 11),
      keep_alive_(chunked_ && request.keep_alive()) {}

awaitable<bool> SseWriter::WriteHead(unsigned status) {
  http::response<http::empty_body> head{static_cast<http::status>(status), version_};
  head.set(http::field::server, "lagscale-testserver");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.keep_alive(keep_alive_);
  head.chunked(chunked_);
  http::response_serializer<http::empty_body> serializer{head};
  boost::system::error_code ec;
  co_await http::async_write_header(stream_, serializer, redirect_error(use_awaitable, ec));
  ok_ = !ec;
  co_return ok_;
}

awaitable<bool> SseWriter::Write(std::string_view event) {
  if (!ok_) co_return false;
  boost::system::error_code ec;
  auto bytes = boost::asio::buffer(event.data(), event.size());
  if (chunked_) {
    co_await boost::asio::async_write(stream_, http::make_chunk(bytes),
                                      redirect_error(use_awaitable, ec));
  } else {
    co_await boost::asio::async_write(stream_, bytes, redirect_error(use_awaitable, ec));
  }
  ok_ = !ec;
  co_return ok_;
}

awaitable<bool> SseWriter::Finish() {
  if (!ok_ || !chunked_) co_return ok_;
  boost::system::error_code ec;
  co_await boost::asio::async_write(stream_, http::make_chunk_last(),
                                    redirect_error(use_awaitable, ec));
  ok_ = !ec;
  co_return ok_;
}

}  // namespace lagscale::testserver
