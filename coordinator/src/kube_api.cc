// One authenticated API-server request; see kube_api.h.
#include "kube_api.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "lagscale/base/text_file.h"

namespace lagscale::coordinator {

KubeApi::KubeApi(const KubeConnection& c) : connection_(c) {
  auto ep = ParseHttpUrl(c.server);
  if (!ep) throw std::invalid_argument("kubernetes: invalid API server URL \"" + c.server + "\"");
  if (ep->tls) {
    ep->ssl = MakeClientTlsContext(c.ca_pem, c.client_cert_pem, c.client_key_pem,
                                   !c.insecure_skip_verify);
  }
  endpoint_ = *ep;
  if (!c.token_file.empty()) {
    token_file_.emplace(
        [path = c.token_file] { return base::ReadSecretFile(path, "kubernetes token"); },
        "calling the API server with the last good token");
  }
}

std::string KubeApi::Token() {
  if (!token_file_) return connection_.token;
  token_file_->RereadEvery(std::chrono::minutes(1));  // a half-written rotation keeps the last good
  return token_file_->value();
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
