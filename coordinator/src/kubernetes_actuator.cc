// kubernetes: GET then (if needed) PATCH the scale subresource with a JSON merge patch.
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "http_client.h"
#include "lagscale/coordinator/kubernetes.h"

namespace lagscale::coordinator {
namespace {

using Status = ActuationResult::Status;

class KubernetesActuator final : public Actuator {
 public:
  KubernetesActuator(const KubeConnection& c, const KubernetesOptions& options)
      : connection_(c), options_(options) {
    auto ep = ParseHttpUrl(c.server);
    if (!ep) throw std::invalid_argument("kubernetes: invalid API server URL \"" + c.server + "\"");
    if (ep->tls) {
      ep->ssl = MakeClientTlsContext(c.ca_pem, c.client_cert_pem, c.client_key_pem,
                                     !c.insecure_skip_verify);
    }
    endpoint_ = *ep;
  }

  const char* name() const override { return "kubernetes"; }

  ActuationResult Apply(const ScaleRequest& r) override {
    ActuationResult out;
    if (!r.target) {
      out.status = Status::kSkipped;
      out.error = "no scale target configured";
      return out;
    }
    const std::string path = endpoint_.base_path + r.target->ScalePath();
    // Read first: when the target already has the replicas, there is nothing to write.
    HttpResponse get = Call("GET", path, "");
    if (get.status != 200) return Failure(get, "GET " + path);
    const int current = SpecReplicas(get.body);
    if (current == r.to) {
      out.http_status = get.status;
      out.observed_replicas = current;
      return out;
    }
    const std::string patch = nlohmann::json{{"spec", {{"replicas", r.to}}}}.dump();
    HttpResponse res = Call("PATCH", path, patch);
    if (res.status != 200 && res.status != 201) return Failure(res, "PATCH " + path);
    out.http_status = res.status;
    out.observed_replicas = SpecReplicas(res.body);
    if (out.observed_replicas < 0) out.observed_replicas = r.to;
    return out;
  }

  TargetReading Read(const ScaleTarget& target) override {
    TargetReading reading;
    HttpResponse res = Call("GET", endpoint_.base_path + target.ObjectPath(), "");
    if (res.status != 200) {
      reading.error = res.status ? "HTTP " + std::to_string(res.status) : res.error;
      return reading;
    }
    try {
      const auto doc = nlohmann::json::parse(res.body);
      const auto& spec = doc.at("spec");
      reading.ok = true;
      if (spec.contains("replicas") && spec["replicas"].is_number_integer()) {
        reading.replicas = spec["replicas"].get<int>();
      }
      if (spec.contains("minReplicas") && spec["minReplicas"].is_number_integer()) {
        reading.min_replicas = spec["minReplicas"].get<int>();
      }
      if (spec.contains("maxReplicas") && spec["maxReplicas"].is_number_integer()) {
        reading.max_replicas = spec["maxReplicas"].get<int>();
      }
    } catch (const std::exception& e) {
      reading.ok = false;
      reading.error = std::string("unexpected object: ") + e.what();
    }
    return reading;
  }

 private:
  static int SpecReplicas(const std::string& body) {
    try {
      const auto doc = nlohmann::json::parse(body);
      return doc.at("spec").value("replicas", 0);
    } catch (const std::exception&) {
      return -1;
    }
  }

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
    try {
      // The API server explains itself in a Status object.
      const auto doc = nlohmann::json::parse(res.body);
      if (doc.contains("message")) out.error += " " + doc["message"].get<std::string>();
    } catch (const std::exception&) {
    }
    // 409 (a concurrent writer) and 429/5xx are worth repeating; 403/404 and the rest are not.
    const bool transient = res.status == 409 || res.status == 429 || res.status >= 500;
    out.status = transient ? Status::kRetry : Status::kFailed;
    return out;
  }

  std::string Token() {
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

  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body) {
    std::vector<std::pair<std::string, std::string>> headers = {{"Accept", "application/json"}};
    const std::string token = Token();
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    if (method == "PATCH") headers.emplace_back("Content-Type", "application/merge-patch+json");
    return HttpCall(endpoint_, method, path, headers, body, options_.timeout_s);
  }

  KubeConnection connection_;
  KubernetesOptions options_;
  HttpEndpoint endpoint_;
  std::string token_;
  std::chrono::steady_clock::time_point token_read_{};
};

}  // namespace

std::unique_ptr<Actuator> MakeKubernetesActuator(const KubeConnection& connection,
                                                 const KubernetesOptions& options) {
  return std::make_unique<KubernetesActuator>(connection, options);
}

}  // namespace lagscale::coordinator
