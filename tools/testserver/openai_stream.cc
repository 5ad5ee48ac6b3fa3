#include "openai_stream.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include "sse.h"

namespace lagscale::testserver {

boost::asio::awaitable<bool> StreamCompletion(const Request& request, const Completion& completion,
                                              std::chrono::steady_clock::time_point first_token,
                                              std::chrono::milliseconds token_gap,
                                              ConnectionWatch& watch,
                                              boost::beast::tcp_stream& stream) {
  SseWriter writer(stream, request);
  if (!co_await writer.WriteHead()) co_return false;
  for (int i = 0; i < completion.tokens; ++i) {
    // Due times, not gaps after each write: a slow write does not stretch the whole answer.
    if (!co_await watch.SleepUntil(first_token + i * token_gap)) co_return false;
    if (!co_await writer.Write(TokenEvent(completion, i))) co_return false;
  }
  if (completion.include_usage && !co_await writer.Write(UsageEvent(completion))) co_return false;
  if (!co_await writer.Write(kDoneEvent)) co_return false;
  co_return co_await writer.Finish() && writer.keep_alive();
}

}  // namespace lagscale::testserver
