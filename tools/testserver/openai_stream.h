#pragma once

// A streamed OpenAI answer ("stream": true): `text/event-stream`, one `data: {chunk}` event per
// token written when the token is due, then the usage chunk (when asked) and `data: [DONE]`.

#include <chrono>

#include "connection_watch.h"
#include "openai_json.h"
#include "rest_handler.h"

namespace lagscale::testserver {

// Writes the head at once, token i at first_token + i x token_ms, then the end of the stream.
// Stops as soon as the client hangs up (seen by `watch` or by a failed write). Returns whether the
// connection may read the next request.
boost::asio::awaitable<bool> StreamCompletion(const Request& request, const Completion& completion,
                                              std::chrono::steady_clock::time_point first_token,
                                              std::chrono::milliseconds token_gap,
                                              ConnectionWatch& watch,
                                              boost::beast::tcp_stream& stream);

}  // namespace lagscale::testserver
