#include "lagscale/proxy/model_router.h"

namespace lagscale::proxy {

namespace {

constexpr std::string_view kV2 = "/v2/models/";
constexpr std::string_view kV1 = "/v1/models/";

// The path of a request target: no scheme/authority (absolute form), no query or fragment.
std::string_view PathOf(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    // Absolute form, e.g. http://host:port/v2/...: the path starts at the first '/' after "//".
    const size_t scheme = target.find("://");
    if (scheme == std::string_view::npos) return {};
    const size_t slash = target.find('/', scheme + 3);
    if (slash == std::string_view::npos) return {};
    target.remove_prefix(slash);
  }
  const size_t end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

}  // namespace

std::vector<std::string> DefaultOpenAiPaths() {
  return {"/v1/chat/completions",        "/v1/completions",        "/v1/embeddings",
          "/openai/v1/chat/completions", "/openai/v1/completions", "/openai/v1/embeddings"};
}

std::string_view ModelHeader(const ModelRouting& routing, const HttpHead& head) {
  for (const std::string& name : routing.headers) {
    std::string_view value;
    if (head.Count(name, &value) > 0 && !value.empty()) return value;
  }
  return {};
}

bool IsOpenAiPath(const ModelRouting& routing, std::string_view target) {
  const std::string_view path = PathOf(target);
  for (const std::string& p : routing.openai_paths) {
    if (path == p) return true;
  }
  return false;
}

std::string_view ModelFromTarget(std::string_view target) {
  const std::string_view path = PathOf(target);
  if (path.starts_with(kV2)) {
    std::string_view rest = path.substr(kV2.size());
    return rest.substr(0, rest.find('/'));
  }
  if (path.starts_with(kV1)) {
    std::string_view rest = path.substr(kV1.size());
    // The verb follows the last ':'; the name is what precedes it, up to a "/versions/{v}".
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return {};
    const std::string_view verb = rest.substr(colon + 1);
    if (verb != "predict" && verb != "explain") return {};
    rest = rest.substr(0, colon);
    const size_t slash = rest.find('/');
    if (slash != std::string_view::npos) {
      const std::string_view tail = rest.substr(slash);
      if (!tail.starts_with("/versions/") || tail.size() == 10 ||
          tail.find('/', 10) != std::string_view::npos) {
        return {};
      }
      rest = rest.substr(0, slash);
    }
    return rest;
  }
  return {};
}

metrics::ModelId RouteModel(metrics::ModelTable& table, bool has_header, std::string_view header,
                            std::string_view target) {
  if (has_header && !header.empty()) return table.Resolve(header);
  const std::string_view name = ModelFromTarget(target);
  if (name.empty()) return table.unattributed();
  return table.Resolve(name);
}

}  // namespace lagscale::proxy
