#pragma once

// The REST side: answers one parsed request on its connection, including the streamed routes
// (generate_stream and the OpenAI-compatible completions), which write their own chunked responses.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <tuple>

#include "capacity.h"

namespace lagscale::testserver {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Serves `request` and writes the response on `stream`. Returns whether the connection may read
// the next request (keep-alive and no write error). Runs on the connection's executor; a request
// waiting for capacity suspends the coroutine, not a thread.
boost::asio::awaitable<bool> HandleRequest(Capacity& capacity, Request& request,
                                           boost::beast::tcp_stream& stream);

// A JSON response with the request's HTTP version and keep-alive.
Response JsonResponse(const Request& request, unsigned status, std::string body);

// Waits for a slot of `pool`. While the request is queued the connection is watched: a client
// that hangs up leaves the queue (completing with kCancelled) instead of taking a slot later.
boost::asio::awaitable<std::tuple<Admission, Slot>> AcquireWhileConnected(
    ModelPool& pool, boost::beast::tcp_stream& stream);

// Writes `response`; returns whether the connection may stay open.
boost::asio::awaitable<bool> WriteResponse(boost::beast::tcp_stream& stream, Response response);

}  // namespace lagscale::testserver
