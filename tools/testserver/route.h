#pragma once

// Route: what a REST request path names, without the query string.

#include <string_view>

namespace lagscale::testserver {

enum class RouteKind {
  kNotFound,
  kLive,             // GET  /v2/health/live
  kReady,            // GET  /v2/health/ready
  kServerMetadata,   // GET  /v2
  kModelMetadata,    // GET  /v2/models/{name}[/versions/{v}]
  kModelReady,       // GET  /v2/models/{name}[/versions/{v}]/ready
  kInfer,            // POST /v2/models/{name}[/versions/{v}]/infer
  kGenerateStream,   // POST /v2/models/{name}[/versions/{v}]/generate_stream
  kPredict,          // POST /v1/models/{name}:predict
  kChatCompletions,  // POST [/openai]/v1/chat/completions (model in the body)
  kCompletions,      // POST [/openai]/v1/completions (model in the body)
  kAdminScale,       // POST /admin/scale
  kAdminState,       // GET  /admin/state
};

struct Route {
  RouteKind kind = RouteKind::kNotFound;
  std::string_view model;    // views into the matched target
  std::string_view version;  // empty: unversioned
};

Route MatchRoute(std::string_view target);

// The method a route answers ("GET" or "POST").
std::string_view RouteMethod(RouteKind kind);

}  // namespace lagscale::testserver
