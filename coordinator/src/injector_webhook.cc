// POST /inject: AdmissionReview in, AdmissionReview with a JSONPatch out.
#include "lagscale/coordinator/injector_webhook.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "json_input.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n);
  return out;
}

HttpReply BadReview(const std::string& why, CoordinatorMetrics& metrics) {
  metrics.OnInjection("invalid_review");
  spdlog::warn("webhook: rejected a request that is not an AdmissionReview: {}", why);
  return HttpReply{400, "application/json", json{{"error", why}}.dump()};
}

// What the review is about, for log lines: namespace/name (or generateName).
std::string PodLabel(const json& request) {
  const auto text = [](const json& obj, const char* key) -> std::string {
    const auto it = obj.is_object() ? obj.find(key) : obj.end();
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const json obj = request.value("object", json());
  const json meta = obj.is_object() ? obj.value("metadata", json()) : json();
  std::string name = text(meta, "name");
  if (name.empty()) name = text(meta, "generateName") + "*";
  return text(request, "namespace") + "/" + name;
}

json Response(const std::string& uid, const Injection* injection) {
  json response = {{"uid", uid}, {"allowed", true}};
  if (injection && !injection->patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = Base64(injection->patch.dump());
  }
  return {
      {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
}

void Log(const std::string& pod, const Injection& injection) {
  switch (injection.outcome) {
    case InjectOutcome::kInjected:
      return spdlog::info("webhook: injected the sidecar into {}: {}", pod, injection.detail);
    case InjectOutcome::kBadAnnotation:
    case InjectOutcome::kInvalidPod:
      return spdlog::warn("webhook: admitted {} without the sidecar: {}", pod, injection.detail);
    default:
      return spdlog::info("webhook: {} admitted unchanged ({})", pod,
                          OutcomeName(injection.outcome));
  }
}

}  // namespace

HttpReply ReviewAdmission(const std::string& body, const SidecarTemplate& tmpl, SidecarMode mode,
                          CoordinatorMetrics& metrics) {
  bool too_deep = false;
  const json review = ParseUntrustedJson(body, &too_deep);
  if (too_deep) {
    return BadReview("body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels",
                     metrics);
  }
  if (review.is_discarded() || !review.is_object()) return BadReview("body is not JSON", metrics);
  if (review.value("apiVersion", json()) != "admission.k8s.io/v1" ||
      review.value("kind", json()) != "AdmissionReview") {
    return BadReview("expected apiVersion admission.k8s.io/v1, kind AdmissionReview", metrics);
  }
  const json request = review.value("request", json());
  if (!request.is_object() || !request.contains("uid") || !request["uid"].is_string() ||
      request["uid"].get<std::string>().empty()) {
    return BadReview("request.uid is missing", metrics);
  }
  const std::string uid = request["uid"];
  const json kind = request.value("kind", json::object());
  const bool pod_create = kind.is_object() && kind.value("kind", json()) == "Pod" &&
                          kind.value("group", json("")) == "" &&
                          request.value("operation", json()) == "CREATE";
  if (!pod_create) {
    metrics.OnInjection("ignored");
    return HttpReply{200, "application/json", Response(uid, nullptr).dump()};
  }
  Injection injection;
  try {
    injection = InjectPod(request.value("object", json()), tmpl, mode);
  } catch (const json::exception& e) {
    // A field of the wrong type (the API server never sends one; a hand-made review might).
    injection = Injection{InjectOutcome::kInvalidPod, json::array(), e.what()};
  }
  metrics.OnInjection(OutcomeName(injection.outcome));
  Log(PodLabel(request), injection);
  return HttpReply{200, "application/json", Response(uid, &injection).dump()};
}

void AddInjectorFlags(CLI::App& app, InjectorFlags& f) {
  app.add_option("--webhook-listen", f.listen,
                 "address of the sidecar injection webhook (HTTPS, POST /inject; empty = off)")
      ->envname("LAGSCALE_WEBHOOK_LISTEN");
  app.add_option("--webhook-cert", f.cert_file,
                 "PEM certificate chain of the webhook (re-read on change)")
      ->envname("LAGSCALE_WEBHOOK_CERT");
  app.add_option("--webhook-key", f.key_file, "PEM private key of the webhook (re-read on change)")
      ->envname("LAGSCALE_WEBHOOK_KEY");
  app.add_option("--webhook-sidecar-template", f.sidecar_template,
                 "sidecar template JSON rendered by the chart (injector ConfigMap, sidecar.json)")
      ->envname("LAGSCALE_WEBHOOK_SIDECAR_TEMPLATE");
  app.add_option(
         "--webhook-sidecar-mode", f.sidecar_mode,
         "native (init container with restartPolicy Always, Kubernetes >= 1.29) or container")
      ->envname("LAGSCALE_WEBHOOK_SIDECAR_MODE")
      ->check(CLI::IsMember({"native", "container"}))
      ->capture_default_str();
}

std::unique_ptr<HttpsServer> StartInjector(const InjectorFlags& f, CoordinatorMetrics& metrics) {
  if (f.listen.empty()) {
    for (const auto& [flag, value] : {std::pair{"--webhook-cert", &f.cert_file},
                                      {"--webhook-key", &f.key_file},
                                      {"--webhook-sidecar-template", &f.sidecar_template}}) {
      if (!value->empty()) throw std::runtime_error(std::string(flag) + ": needs --webhook-listen");
    }
    return nullptr;
  }
  for (const auto& [flag, value] : {std::pair{"--webhook-cert", &f.cert_file},
                                    {"--webhook-key", &f.key_file},
                                    {"--webhook-sidecar-template", &f.sidecar_template}}) {
    if (value->empty())
      throw std::runtime_error(std::string(flag) + ": required with --webhook-listen");
  }
  auto tmpl = std::make_shared<const SidecarTemplate>(LoadSidecarTemplate(f.sidecar_template));
  const SidecarMode mode =
      f.sidecar_mode == "container" ? SidecarMode::kContainer : SidecarMode::kNative;
  auto handler = [tmpl, mode, &metrics](const HttpsRequest& req) -> HttpReply {
    if (req.target.substr(0, req.target.find('?')) != "/inject") {
      return HttpReply{404, "application/json",
                       R"({"error":"not found; the webhook path is /inject"})"};
    }
    if (req.method != "POST") return HttpReply{405, "application/json", R"({"error":"POST only"})"};
    return ReviewAdmission(req.body, *tmpl, mode, metrics);
  };
  HttpsOptions options{f.listen, f.cert_file, f.key_file};
  auto server = std::make_unique<HttpsServer>(std::move(options), std::move(handler));
  spdlog::info("webhook: injecting {} sidecars (template {})", f.sidecar_mode, f.sidecar_template);
  return server;
}

}  // namespace lagscale::coordinator
