#include "rest_handler.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/write.hpp>

#include "admin.h"
#include "async_slot.h"
#include "connection_watch.h"
#include "openai_handler.h"
#include "rest_stream.h"
#include "route.h"
#include "test_knobs.h"
#include "v2_json.h"

namespace lagscale::testserver {
namespace {

namespace http = boost::beast::http;
using boost::asio::awaitable;
using boost::asio::use_awaitable;

// Beast 1.74 speaks boost::string_view.
std::string_view ToStd(boost::beast::string_view view) { return {view.data(), view.size()}; }
boost::beast::string_view ToBeast(std::string_view view) { return {view.data(), view.size()}; }

Response Error(const Request& request, unsigned status, std::string_view message) {
  return JsonResponse(request, status, ErrorJson(message));
}

// The response after the service: `ok_body` normally, or the status x-test-status asked for.
Response Finish(const Request& request, const TestKnobs& knobs, std::string ok_body) {
  if (knobs.status == 0) return JsonResponse(request, 200, std::move(ok_body));
  if (knobs.status >= 400) {
    return Error(request, knobs.status, "x-test-status " + std::to_string(knobs.status));
  }
  if (knobs.status == 204 || knobs.status == 304) return JsonResponse(request, knobs.status, "");
  return JsonResponse(request, knobs.status, std::move(ok_body));
}

std::string NotServed(std::string_view model) {
  return "model '" + std::string(model) + "' is not served here";
}

// Infer and predict: check the body, wait for a slot, hold it for the service time.
awaitable<Response> Infer(Capacity& capacity, const Request& request, const Route& route,
                          const TestKnobs& knobs, boost::beast::tcp_stream& stream) {
  ModelPool* pool = capacity.Find(route.model);
  if (pool == nullptr) co_return Error(request, 404, NotServed(route.model));
  std::string body, error;
  bool ok = route.kind == RouteKind::kPredict
                ? PredictResponseJson(request.body(), &body, &error)
                : InferResponseJson(route.model, route.version, request.body(), &body, &error);
  if (!ok) co_return Error(request, 400, error);
  auto [admission, slot] = co_await AcquireWhileConnected(*pool, stream);
  if (admission == Admission::kCancelled) co_return Error(request, 499, "client went away");
  if (admission != Admission::kGranted) {
    co_return Error(request, 503, "queue of model '" + std::string(route.model) + "' is full");
  }
  co_await SleepMs(pool->service_time_ms() + knobs.delay_ms);
  slot.Release();
  co_return Finish(request, knobs, std::move(body));
}

// Routes that do not take a slot: health and metadata.
awaitable<Response> Describe(Capacity& capacity, const Request& request, const Route& route,
                             const TestKnobs& knobs) {
  std::string body;
  switch (route.kind) {
    case RouteKind::kLive:
      body = R"({"live":true})";
      break;
    case RouteKind::kReady:
      body = R"({"ready":true})";
      break;
    case RouteKind::kServerMetadata:
      body = ServerMetadataJson();
      break;
    default:
      if (capacity.Find(route.model) == nullptr) {
        co_return Error(request, 404, NotServed(route.model));
      }
      body = route.kind == RouteKind::kModelReady
                 ? R"({"name":")" + std::string(route.model) + R"(","ready":true})"
                 : ModelMetadataJson(route.model, route.version);
  }
  co_await SleepMs(knobs.delay_ms);
  co_return Finish(request, knobs, std::move(body));
}

}  // namespace

namespace {

// Watches a queued request's connection until `active` turns false. Readable means the peer's
// FIN/RST (then the waiter leaves the queue), a pipelined request (left unread, the watch ends), or
// nothing at all: with edge-triggered epoll the wakeup can be a stale edge of the request's own
// bytes, so an empty peek re-arms the watch instead of ending it.
void WatchForHangUp(boost::asio::ip::tcp::socket& socket, ModelPool& pool,
                    std::shared_ptr<Waiter> waiter, std::shared_ptr<bool> active) {
  socket.async_wait(boost::asio::ip::tcp::socket::wait_read,
                    [&socket, &pool, waiter, active](const boost::system::error_code& ec) mutable {
                      if (ec || !*active) return;
                      switch (PeekPeer(socket)) {
                        case PeerState::kHungUp:
                          pool.Cancel(waiter);
                          break;
                        case PeerState::kNothing:
                          WatchForHangUp(socket, pool, std::move(waiter), std::move(active));
                          break;
                        case PeerState::kData:
                          break;
                      }
                    });
}

}  // namespace

awaitable<std::tuple<Admission, Slot>> AcquireWhileConnected(ModelPool& pool,
                                                             boost::beast::tcp_stream& stream) {
  // No suspension at all when a slot is free: the common case of a benchmark upstream.
  if (Slot slot = pool.TryAcquire())
    co_return std::make_tuple(Admission::kGranted, std::move(slot));
  auto& socket = stream.socket();
  // The watch and this coroutine run on the connection's single I/O thread: a plain flag is
  // enough to stop a watch that is already scheduled.
  std::shared_ptr<bool> active;
  auto watch = [&](const std::shared_ptr<Waiter>& waiter) {
    active = std::make_shared<bool>(true);
    WatchForHangUp(socket, pool, waiter, active);
  };
  auto [admission, slot] = co_await AsyncAcquire(pool, use_awaitable, watch);
  if (active) {
    *active = false;
    boost::system::error_code ignored;
    socket.cancel(ignored);
  }
  co_return std::make_tuple(admission, std::move(slot));
}

Response JsonResponse(const Request& request, unsigned status, std::string body) {
  Response response{static_cast<http::status>(status), request.version()};
  response.set(http::field::server, "lagscale-testserver");
  if (!body.empty()) response.set(http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

awaitable<bool> WriteResponse(boost::beast::tcp_stream& stream, Response response) {
  boost::system::error_code ec;
  co_await http::async_write(stream, response, boost::asio::redirect_error(use_awaitable, ec));
  co_return !ec && response.keep_alive();
}

awaitable<bool> HandleRequest(Capacity& capacity, Request& request,
                              boost::beast::tcp_stream& stream) {
  Route route = MatchRoute(ToStd(request.target()));
  if (route.kind == RouteKind::kNotFound) {
    co_return co_await WriteResponse(
        stream, Error(request, 404, "no route for " + std::string(request.target())));
  }
  if (ToStd(request.method_string()) != RouteMethod(route.kind)) {
    Response response = Error(request, 405, std::string(RouteMethod(route.kind)) + " only");
    response.set(http::field::allow, ToBeast(RouteMethod(route.kind)));
    co_return co_await WriteResponse(stream, std::move(response));
  }
  if (route.kind == RouteKind::kAdminScale) {
    AdminReply reply = ApplyScale(capacity, request.body());
    co_return co_await WriteResponse(stream,
                                     JsonResponse(request, reply.status, std::move(reply.body)));
  }
  if (route.kind == RouteKind::kAdminState) {
    co_return co_await WriteResponse(stream, JsonResponse(request, 200, StateJson(capacity)));
  }

  TestKnobs knobs;
  std::string knob_error = ParseTestKnobs(
      KnobProtocol::kHttp,
      [&request](std::string_view name) -> std::optional<std::string_view> {
        auto it = request.find(ToBeast(name));
        if (it == request.end()) return std::nullopt;
        return ToStd(it->value());
      },
      &knobs);
  if (!knob_error.empty())
    co_return co_await WriteResponse(stream, Error(request, 400, knob_error));

  switch (route.kind) {
    case RouteKind::kInfer:
    case RouteKind::kPredict:
      co_return co_await WriteResponse(stream,
                                       co_await Infer(capacity, request, route, knobs, stream));
    case RouteKind::kGenerateStream:
      co_return co_await GenerateStream(capacity, request, route.model, knobs, stream);
    case RouteKind::kChatCompletions:
      co_return co_await HandleOpenAi(capacity, request, OpenAiApi::kChat, knobs, stream);
    case RouteKind::kCompletions:
      co_return co_await HandleOpenAi(capacity, request, OpenAiApi::kCompletions, knobs, stream);
    default:
      co_return co_await WriteResponse(stream, co_await Describe(capacity, request, route, knobs));
  }
}

}  // namespace lagscale::testserver
