#include "lagscale/coordinator/routes.h"

#include <optional>
#include <string>

#include "lagscale/coordinator/history_json.h"
#include "status_page.h"

namespace lagscale::coordinator {
namespace {

HttpReply Json(int status, std::string body) {
  return HttpReply{status, "application/json", std::move(body)};
}

// RFC 3986 percent-decoding of one path segment ("my%2Fmodel" -> "my/model"); nullopt when a '%'
// is not followed by two hex digits. '+' stays '+' (that rule is for query strings only).
std::optional<std::string> PercentDecode(const std::string& in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return std::nullopt;
    out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
    i += 2;
  }
  return out;
}

}  // namespace

HttpHandler MakeRoutes(const Engine& engine, const CoordinatorMetrics& metrics) {
  return [&engine, &metrics](const std::string& method, const std::string& target) -> HttpReply {
    if (method != "GET" && method != "HEAD") return Json(405, R"({"error":"method not allowed"})");
    const std::string path = target.substr(0, target.find('?'));
    if (path == "/healthz") return HttpReply{200, "text/plain", "ok\n"};
    if (path == "/readyz") {
      return engine.ready() ? HttpReply{200, "text/plain", "ready\n"}
                            : HttpReply{503, "text/plain", "starting\n"};
    }
    if (path == "/metrics") {
      return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render()};
    }
    if (path == "/" || path == "/index.html") {
      return HttpReply{200, "text/html; charset=utf-8", StatusPageHtml()};
    }
    const auto query =
        target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    if (auto reply = HistoryRoute(engine.model_history(), engine.server_history(), path, query))
      return *reply;
    const auto status = engine.status();
    if (path == "/status" || path == "/status/") {
      if (!status) return Json(503, R"({"error":"starting"})");
      return Json(200, StatusJson(*status));
    }
    static const std::string kModelPrefix = "/status/models/";
    if (path.rfind(kModelPrefix, 0) == 0) {
      const auto name = PercentDecode(path.substr(kModelPrefix.size()));
      if (!name) return Json(400, R"({"error":"bad percent-encoding in the model name"})");
      if (status) {
        if (auto doc = ModelStatusJson(*status, *name)) return Json(200, *doc);
      }
      return Json(404, R"({"error":"unknown model"})");
    }
    return Json(404, R"({"error":"not found"})");
  };
}

}  // namespace lagscale::coordinator
