#include "route.h"

namespace lagscale::testserver {
namespace {

// Splits off the next '/'-separated segment of `rest`.
std::string_view NextSegment(std::string_view* rest) {
  auto slash = rest->find('/');
  std::string_view segment = rest->substr(0, slash);
  rest->remove_prefix(slash == std::string_view::npos ? rest->size() : slash + 1);
  return segment;
}

Route MatchModelRoute(std::string_view rest) {
  Route route;
  route.model = NextSegment(&rest);
  if (route.model.empty()) return Route{};
  bool had_slash = false;
  std::string_view action;
  if (!rest.empty()) {
    std::string_view segment = NextSegment(&rest);
    if (segment == "versions") {
      route.version = NextSegment(&rest);
      if (route.version.empty()) return Route{};
      if (!rest.empty()) action = NextSegment(&rest);
    } else {
      action = segment;
    }
    had_slash = true;
  }
  if (!rest.empty()) return Route{};
  if (action.empty()) {
    route.kind =
        had_slash && route.version.empty() ? RouteKind::kNotFound : RouteKind::kModelMetadata;
  } else if (action == "ready") {
    route.kind = RouteKind::kModelReady;
  } else if (action == "infer") {
    route.kind = RouteKind::kInfer;
  } else if (action == "generate_stream") {
    route.kind = RouteKind::kGenerateStream;
  } else {
    return Route{};
  }
  return route;
}

}  // namespace

Route MatchRoute(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/v2/health/live") return Route{RouteKind::kLive, {}, {}};
  if (path == "/v2/health/ready") return Route{RouteKind::kReady, {}, {}};
  if (path == "/v2" || path == "/v2/") return Route{RouteKind::kServerMetadata, {}, {}};
  if (path == "/admin/scale") return Route{RouteKind::kAdminScale, {}, {}};
  if (path == "/admin/state") return Route{RouteKind::kAdminState, {}, {}};
  constexpr std::string_view kV2Models = "/v2/models/";
  if (path.starts_with(kV2Models)) return MatchModelRoute(path.substr(kV2Models.size()));
  // OpenAI-compatible paths, also under /openai as KServe serves them; the model is in the body.
  std::string_view openai = path.starts_with("/openai/") ? path.substr(7) : path;
  if (openai == "/v1/chat/completions") return Route{RouteKind::kChatCompletions, {}, {}};
  if (openai == "/v1/completions") return Route{RouteKind::kCompletions, {}, {}};
  constexpr std::string_view kV1Models = "/v1/models/";
  constexpr std::string_view kPredict = ":predict";
  if (path.starts_with(kV1Models) && path.ends_with(kPredict)) {
    std::string_view model =
        path.substr(kV1Models.size(), path.size() - kV1Models.size() - kPredict.size());
    if (model.empty() || model.find('/') != std::string_view::npos) return Route{};
    return Route{RouteKind::kPredict, model, {}};
  }
  return Route{};
}

std::string_view RouteMethod(RouteKind kind) {
  switch (kind) {
    case RouteKind::kInfer:
    case RouteKind::kGenerateStream:
    case RouteKind::kPredict:
    case RouteKind::kChatCompletions:
    case RouteKind::kCompletions:
    case RouteKind::kAdminScale:
      return "POST";
    default:
      return "GET";
  }
}

}  // namespace lagscale::testserver
