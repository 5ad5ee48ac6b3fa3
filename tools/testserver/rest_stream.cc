#include "rest_stream.h"

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

#include "async_slot.h"
#include "v2_json.h"

namespace lagscale::testserver {

namespace http = boost::beast::http;
using boost::asio::awaitable;
using boost::asio::redirect_error;
using boost::asio::use_awaitable;

awaitable<bool> GenerateStream(Capacity& capacity, const Request& request, std::string_view model,
                               const TestKnobs& knobs, boost::beast::tcp_stream& stream) {
  ModelPool* pool = capacity.Find(model);
  if (pool == nullptr) {
    co_return co_await WriteResponse(
        stream, JsonResponse(request, 404,
                             ErrorJson("model '" + std::string(model) + "' is not served here")));
  }
  auto [admission, slot] = co_await AcquireWhileConnected(*pool, stream);
  if (admission == Admission::kCancelled) co_return false;  // the client went away
  if (admission != Admission::kGranted) {
    co_return co_await WriteResponse(
        stream, JsonResponse(request, 503,
                             ErrorJson("queue of model '" + std::string(model) + "' is full")));
  }
  co_await SleepMs(pool->service_time_ms());
  if (knobs.status >= 400) {
    slot.Release();
    co_return co_await WriteResponse(
        stream, JsonResponse(request, knobs.status,
                             ErrorJson("x-test-status " + std::to_string(knobs.status))));
  }

  // HTTP/1.0 has no chunked encoding: the events then end with the connection.
  bool chunked = request.version() >= 11;
  http::response<http::empty_body> head{
      static_cast<http::status>(knobs.status == 0 ? 200 : knobs.status), request.version()};
  head.set(http::field::server, "lagscale-testserver");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.keep_alive(chunked && request.keep_alive());
  head.chunked(chunked);
  http::response_serializer<http::empty_body> serializer{head};
  boost::system::error_code ec;
  co_await http::async_write_header(stream, serializer, redirect_error(use_awaitable, ec));
  for (int i = 0; i < knobs.chunks && !ec; ++i) {
    if (i > 0) co_await SleepMs(knobs.delay_ms);
    std::string event = GenerateEvent(model, i, i + 1 == knobs.chunks);
    if (chunked) {
      co_await boost::asio::async_write(stream, http::make_chunk(boost::asio::buffer(event)),
                                        redirect_error(use_awaitable, ec));
    } else {
      co_await boost::asio::async_write(stream, boost::asio::buffer(event),
                                        redirect_error(use_awaitable, ec));
    }
  }
  if (chunked && !ec) {
    co_await boost::asio::async_write(stream, http::make_chunk_last(),
                                      redirect_error(use_awaitable, ec));
  }
  slot.Release();
  co_return !ec && head.keep_alive();
}

}  // namespace lagscale::testserver
