#pragma once

// POST /v2/models/{name}/generate_stream: a `text/event-stream` response in chunked encoding,
// `x-test-chunks` events (default 5) spaced by `x-test-delay-ms`, each flushed on its own. The
// request holds a slot of its model from the first event to the last.

#include <string_view>

#include "rest_handler.h"
#include "test_knobs.h"

namespace lagscale::testserver {

// Returns whether the connection may read the next request.
boost::asio::awaitable<bool> GenerateStream(Capacity& capacity, const Request& request,
                                            std::string_view model, const TestKnobs& knobs,
                                            boost::beast::tcp_stream& stream);

}  // namespace lagscale::testserver
