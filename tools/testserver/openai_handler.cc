#include "openai_handler.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <chrono>
#include <tuple>

#include "connection_watch.h"
#include "openai_stream.h"

namespace lagscale::testserver {
namespace {

using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

Response ErrorResponse(const Request& request, const OpenAiError& error) {
  return JsonResponse(request, error.status, OpenAiErrorJson(error));
}

OpenAiError ModelNotFound(const std::string& model) {
  OpenAiError error;
  error.status = 404;
  error.param = "model";
  error.code = "model_not_found";
  error.message = model.empty() ? "you must provide a model parameter"
                                : "The model '" + model + "' does not exist.";
  return error;
}

OpenAiError StatusError(unsigned status, std::string message, std::string code) {
  OpenAiError error;
  error.status = status;
  error.type = status >= 500 ? "server_error" : "invalid_request_error";
  error.message = std::move(message);
  error.code = std::move(code);
  return error;
}

}  // namespace

awaitable<bool> HandleOpenAi(Capacity& capacity, const Request& request, OpenAiApi api,
                             const TestKnobs& knobs, boost::beast::tcp_stream& stream) {
  OpenAiRequest parsed;
  OpenAiError error;
  if (!ParseOpenAiRequest(api, request.body(), &parsed, &error)) {
    co_return co_await WriteResponse(stream, ErrorResponse(request, error));
  }
  ModelPool* pool = parsed.model.empty() ? nullptr : capacity.Find(parsed.model);
  if (pool == nullptr) {
    co_return co_await WriteResponse(stream, ErrorResponse(request, ModelNotFound(parsed.model)));
  }
  // A named tuple and a slot owned by this frame: GCC 12 miscompiled the structured binding
  // form here, with the slot passed on by reference to a nested coroutine (SIGILL once the
  // answer slept).
  std::tuple<Admission, Slot> admitted = co_await AcquireWhileConnected(*pool, stream);
  Slot slot = std::move(std::get<1>(admitted));
  if (std::get<0>(admitted) == Admission::kCancelled) co_return false;  // the client went away
  if (std::get<0>(admitted) != Admission::kGranted) {
    co_return co_await WriteResponse(
        stream,
        ErrorResponse(request, StatusError(503, "queue of model '" + parsed.model + "' is full",
                                           "queue_full")));
  }
  const LlmTiming& timing = pool->llm();
  Completion completion = MakeCompletion(api, parsed, timing);
  auto first_token = Clock::now() + std::chrono::milliseconds(timing.ttft_ms) +
                     std::chrono::milliseconds(knobs.delay_ms);
  auto token_gap = std::chrono::milliseconds(timing.token_ms);
  ConnectionWatch watch(stream.socket());
  if (knobs.status >= 400) {
    if (!co_await watch.SleepUntil(first_token)) co_return false;
    slot.Release();
    co_return co_await WriteResponse(
        stream,
        ErrorResponse(request, StatusError(knobs.status,
                                           "x-test-status " + std::to_string(knobs.status), "")));
  }
  if (!parsed.stream) {
    // The answer in one JSON object, sent when its last token is due.
    if (!co_await watch.SleepUntil(first_token + (completion.tokens - 1) * token_gap)) {
      co_return false;
    }
    slot.Release();
    co_return co_await WriteResponse(stream,
                                     JsonResponse(request, 200, CompletionJson(completion)));
  }
  co_return co_await StreamCompletion(request, completion, first_token, token_gap, watch, stream);
}

}  // namespace lagscale::testserver
