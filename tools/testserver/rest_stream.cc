#include "rest_stream.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include "async_slot.h"
#include "sse.h"
#include "v2_json.h"

namespace lagscale::testserver {

using boost::asio::awaitable;

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

  SseWriter writer(stream, request);
  if (!co_await writer.WriteHead(knobs.status == 0 ? 200 : knobs.status)) co_return false;
  for (int i = 0; i < knobs.chunks; ++i) {
    if (i > 0) co_await SleepMs(knobs.delay_ms);
    if (!co_await writer.Write(GenerateEvent(model, i, i + 1 == knobs.chunks))) co_return false;
  }
  bool finished = co_await writer.Finish();
  slot.Release();
  co_return finished&& writer.keep_alive();
}

}  // namespace lagscale::testserver
