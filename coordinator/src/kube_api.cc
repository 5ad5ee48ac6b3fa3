// One authenticated API-server request; see kube_api.h.
#include "kube_api.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace lagscale::coordinator {

KubeApi::KubeApi(const KubeConnection& c) : connection_(c) {
  auto ep = ParseHttpUrl(c.server);
  if (!ep) throw std::invalid_argument("kubernetes: invalid API server URL \"" + c.server + "\"");
  if (ep->tls) {
    ep->ssl = MakeClientTlsContext(c.ca_pem, c.client_cert_pem, c.client_key_pem,
                                   !c.insecure_skip_verify);
  }
  endpoint_ = *ep;
}

std::string KubeApi::Token() {
  if (connection_.token_file.empty()) return connection_.token;
  const auto now = std::chrono::steady_clock::now();
  if (token_.empty() || now - token_read_ > std::chrono::minutes(1)) {
    std::ifstream in(connection_.token_file);
    std::stringstream s;
    s << in.rdbuf();
    std::string t = s.str();
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    if (in && !t.empty()) token_ = t;
    token_read_ = now;
  }
  return token_;
}

HttpResponse KubeApi::Call(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type,
                           double timeout_s) {
  std::vector<std::pair<std::string, std::string>> headers = {{"Accept", "application/json"}};
  const std::string token = Token();
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  if (!body.empty() && !content_type.empty()) headers.emplace_back("Content-Type", content_type);
  return HttpCall(endpoint_, method, endpoint_.base_path + path, headers, body, timeout_s);
}

}  // namespace lagscale::coordinator
