#pragma once

// The OpenAI-compatible endpoints, POST [/openai]/v1/chat/completions and /v1/completions: the
// model comes from the body's "model"; the answer holds one slot of that model (the capacity model
// V2 requests use) from admission to its last token, streamed or not. The first token comes after
// the model's time to first token (plus x-test-delay-ms), each further one a token time later.

#include "openai_json.h"
#include "rest_handler.h"
#include "test_knobs.h"

namespace lagscale::testserver {

// Returns whether the connection may read the next request.
boost::asio::awaitable<bool> HandleOpenAi(Capacity& capacity, const Request& request, OpenAiApi api,
                                          const TestKnobs& knobs, boost::beast::tcp_stream& stream);

}  // namespace lagscale::testserver
