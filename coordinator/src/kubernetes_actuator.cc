// kubernetes: GET then (if needed) PATCH the scale subresource with a JSON merge patch.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "lagscale/coordinator/api_responses.h"
#include "kube_api.h"
#include "lagscale/coordinator/kubernetes.h"

namespace lagscale::coordinator {
namespace {

using Status = ActuationResult::Status;

class KubernetesActuator final : public Actuator {
 public:
  KubernetesActuator(const KubeConnection& c, const KubernetesOptions& options)
      : api_(c), options_(options) {}

  const char* name() const override { return "kubernetes"; }

  ActuationResult Apply(const ScaleRequest& r) override {
    ActuationResult out;
    if (!r.target) {
      out.status = Status::kSkipped;
      out.error = "no scale target configured";
      return out;
    }
    const std::string path = r.target->ScalePath();
    // Read first: when the target already has the replicas, there is nothing to write.
    HttpResponse get = Call("GET", path, "");
    if (get.status != 200) return Failure(get, "GET " + path);
    const int current = ReadSpecReplicas(get.body);
    if (current == r.to) {
      out.http_status = get.status;
      out.observed_replicas = current;
      return out;
    }
    if (r.never_lower && current > r.to) {
      out.status = Status::kSkipped;
      out.http_status = get.status;
      out.observed_replicas = current;
      out.error = "hand-over hold: the target runs " + std::to_string(current) +
                  ", not lowered to " + std::to_string(r.to);
      return out;
    }
    // The last moment to ask whether this process may still write (leader election).
    if (options_.may_write && !options_.may_write()) {
      out.status = Status::kSkipped;
      out.http_status = get.status;
      out.observed_replicas = current;
      out.error = "not the leader: not written";
      return out;
    }
    const std::string patch = nlohmann::json{{"spec", {{"replicas", r.to}}}}.dump();
    HttpResponse res = Call("PATCH", path, patch);
    if (res.status != 200 && res.status != 201) return Failure(res, "PATCH " + path);
    out.http_status = res.status;
    out.observed_replicas = ReadSpecReplicas(res.body);
    if (out.observed_replicas < 0) out.observed_replicas = r.to;
    return out;
  }

  TargetReading Read(const ScaleTarget& target) override {
    TargetReading reading;
    HttpResponse res = Call("GET", target.ObjectPath(), "");
    if (res.status != 200) {
      reading.error = res.status ? "HTTP " + std::to_string(res.status) : res.error;
      return reading;
    }
    return ReadScaleTarget(res.body);
  }

 private:

  static ActuationResult Failure(const HttpResponse& res, const std::string& what) {
    ActuationResult out;
    out.http_status = res.status;
    out.retry_after_s = res.retry_after_s;
    if (res.status == 0) {
      out.status = Status::kRetry;
      out.error = what + ": " + res.error;
      return out;
    }
    out.error = what + ": HTTP " + std::to_string(res.status);
    // The API server explains itself in a Status object.
    if (const std::string message = ApiStatusMessage(res.body); !message.empty()) {
      out.error += " " + message;
    }
    // 409 (a concurrent writer) and 429/5xx are worth repeating; 403/404 and the rest are not.
    const bool transient = res.status == 409 || res.status == 429 || res.status >= 500;
    out.status = transient ? Status::kRetry : Status::kFailed;
    return out;
  }

  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body) {
    return api_.Call(method, path, body, "application/merge-patch+json", options_.timeout_s);
  }

  KubeApi api_;
  KubernetesOptions options_;
};

}  // namespace

std::unique_ptr<Actuator> MakeKubernetesActuator(const KubeConnection& connection,
                                                 const KubernetesOptions& options) {
  return std::make_unique<KubernetesActuator>(connection, options);
}

}  // namespace lagscale::coordinator
