// webhook: POSTs each decision as the JSON document fixed in contracts.md.
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "http_client.h"
#include "lagscale/coordinator/actuator.h"

namespace lagscale::coordinator {
namespace {

class WebhookActuator final : public Actuator {
 public:
  explicit WebhookActuator(const WebhookOptions& options) : timeout_s_(options.timeout_s) {
    auto ep = ParseHttpUrl(options.url);
    if (!ep) throw std::invalid_argument("--webhook-url: invalid value \"" + options.url + "\"");
    if (ep->tls) ep->ssl = MakeClientTlsContext("", "", "");
    endpoint_ = *ep;
    path_ = endpoint_.base_path.empty() ? "/" : endpoint_.base_path;
  }

  const char* name() const override { return "webhook"; }

  ActuationResult Apply(const ScaleRequest& r) override {
    const nlohmann::json body = {{"kind", r.kind == TargetKind::kModel ? "model" : "server"},
                                 {"name", r.name},
                                 {"server", r.server},
                                 {"namespace", r.name_space},
                                 {"from", r.from},
                                 {"to", r.to},
                                 {"reason", r.reason},
                                 {"time_unix_ms", r.time_unix_ms}};
    // The receiver answers with its status; a body it sends is never read, whatever its size.
    HttpResponse res = HttpCall(endpoint_, "POST", path_, {{"Content-Type", "application/json"}},
                                body.dump(), timeout_s_, OversizeBody::kDropped);
    ActuationResult out;
    out.http_status = res.status;
    out.retry_after_s = res.retry_after_s;
    if (res.status >= 200 && res.status < 300) {
      out.observed_replicas = r.to;
    } else if (res.status == 0 || res.status == 429 || res.status >= 500) {
      out.status = ActuationResult::Status::kRetry;
      out.error = res.status == 0 ? res.error : "HTTP " + std::to_string(res.status);
    } else {
      out.status = ActuationResult::Status::kFailed;
      out.error = "HTTP " + std::to_string(res.status);
    }
    return out;
  }

 private:
  HttpEndpoint endpoint_;
  std::string path_;
  double timeout_s_;
};

}  // namespace

std::unique_ptr<Actuator> MakeWebhookActuator(const WebhookOptions& options) {
  return std::make_unique<WebhookActuator>(options);
}

}  // namespace lagscale::coordinator
