#include "lagscale/coordinator/routes.h"

#include "lagscale/coordinator/history_json.h"
#include "status_page.h"

namespace lagscale::coordinator {
namespace {

HttpReply Json(int status, std::string body) {
  return HttpReply{status, "application/json", std::move(body)};
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
      const std::string name = path.substr(kModelPrefix.size());
      if (status) {
        if (auto doc = ModelStatusJson(*status, name)) return Json(200, *doc);
      }
      return Json(404, R"({"error":"unknown model"})");
    }
    return Json(404, R"({"error":"not found"})");
  };
}

}  // namespace lagscale::coordinator
