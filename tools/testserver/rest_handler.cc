#include "rest_handler.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/write.hpp>

#include "admin.h"
#include "async_slot.h"
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
                          const TestKnobs& knobs) {
  ModelPool* pool = capacity.Find(route.model);
  if (pool == nullptr) co_return Error(request, 404, NotServed(route.model));
  std::string body, error;
  bool ok = route.kind == RouteKind::kPredict
                ? PredictResponseJson(request.body(), &body, &error)
                : InferResponseJson(route.model, route.version, request.body(), &body, &error);
  if (!ok) co_return Error(request, 400, error);
  auto [admission, slot] = co_await AsyncAcquire(*pool, use_awaitable);
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
  if (!knob_error.empty()) co_return co_await WriteResponse(stream, Error(request, 400, knob_error));

  switch (route.kind) {
    case RouteKind::kInfer:
    case RouteKind::kPredict:
      co_return co_await WriteResponse(stream,
                                       co_await Infer(capacity, request, route, knobs));
    case RouteKind::kGenerateStream:
      co_return co_await GenerateStream(capacity, request, route.model, knobs, stream);
    default:
      co_return co_await WriteResponse(stream,
                                       co_await Describe(capacity, request, route, knobs));
  }
}

}  // namespace lagscale::testserver
