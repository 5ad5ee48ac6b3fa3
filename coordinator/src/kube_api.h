#pragma once

// KubeApi: authenticated requests to one Kubernetes API server (the KubeConnection's), over
// HttpCall. Shared by the Kubernetes actuator and the leader elector so that there is one place
// that knows the endpoint, the TLS context and the bearer token (re-read from its file every
// minute, as service-account tokens rotate; a file gone bad keeps the last good token, with one
// warning).
// Thread safety: not thread-safe; each user (the actuation thread, the elector thread) owns one.

#include <optional>
#include <string>

#include "http_client.h"
#include "lagscale/base/last_good.h"
#include "lagscale/coordinator/kubernetes.h"

namespace lagscale::coordinator {

class KubeApi {
 public:
  // Throws std::invalid_argument when the server URL cannot be used, std::runtime_error on bad
  // TLS material or a token file that cannot be read.
  explicit KubeApi(const KubeConnection& connection);

  // `path` is relative to the server URL (e.g. /apis/apps/v1/...). `content_type` is sent only
  // with a body.
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type, double timeout_s);

 private:
  std::string Token();

  KubeConnection connection_;
  HttpEndpoint endpoint_;
  std::optional<base::LastGood<std::string>> token_file_;  // empty without a token file
};

}  // namespace lagscale::coordinator
