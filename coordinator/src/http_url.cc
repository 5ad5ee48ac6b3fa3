// ParseHttpUrl (http_client.h), apart from the client's coroutines so that plain parsing can be
// linked and fuzzed on its own (the kubeconfig loader checks its API server URL with it).
#include <regex>

#include "http_client.h"

namespace lagscale::coordinator {

std::optional<HttpEndpoint> ParseHttpUrl(const std::string& url) {
  // libstdc++'s regex recurses once per character matched: a 16 KB URL overflows the stack. No
  // endpoint an operator configures comes near this.
  if (url.size() > kMaxHttpUrlLength) return std::nullopt;
  static const std::regex kUrl(
      R"(^(https?)://(\[[0-9a-fA-F:.]+\]|[^/:?#\[\]@]+)(?::([0-9]{1,5}))?(/[^#]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) return std::nullopt;
  HttpEndpoint ep;
  ep.tls = m[1] == "https";
  ep.host = m[2];
  if (!ep.host.empty() && ep.host.front() == '[') ep.host = ep.host.substr(1, ep.host.size() - 2);
  ep.port = m[3].matched ? m[3].str() : (ep.tls ? "443" : "80");
  ep.base_path = m[4].matched ? m[4].str() : "";
  return ep;
}

}  // namespace lagscale::coordinator
