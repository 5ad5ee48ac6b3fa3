#pragma once

// The injection webhook: `POST /inject` takes an admission.k8s.io/v1 AdmissionReview and answers
// one with the same uid, `allowed: true` always, and a base64 JSONPatch when the pod gets the
// sidecar. A problem with one pod never blocks it: it is logged, counted on /metrics
// (lagscale_coordinator_injections_total{result}) and the pod is admitted unchanged. A body that
// is not an AdmissionReview gets a 400 naming what is wrong.
// Also the coordinator binary's wiring: the --webhook-* flags and starting the HTTPS server.
// Thread safety: ReviewAdmission is pure apart from the thread-safe metrics and logging.

#include <memory>
#include <string>

#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/https_server.h"
#include "lagscale/coordinator/injector.h"

namespace CLI {
class App;
}

namespace lagscale::coordinator {

// Answers one AdmissionReview body (200 with a review, or 400 with {"error": ...}).
HttpReply ReviewAdmission(const std::string& body, const SidecarTemplate& tmpl, SidecarMode mode,
                          CoordinatorMetrics& metrics);

struct InjectorFlags {
  std::string listen;                   // --webhook-listen: "" = no webhook
  std::string cert_file;                // --webhook-cert
  std::string key_file;                 // --webhook-key
  std::string sidecar_template;         // --webhook-sidecar-template
  std::string sidecar_mode = "native";  // --webhook-sidecar-mode: native | container
};

// Declares the --webhook-* flags (each with its LAGSCALE_WEBHOOK_* environment variable).
void AddInjectorFlags(CLI::App& app, InjectorFlags& flags);

// Starts the webhook when --webhook-listen is set (nullptr otherwise). Throws std::runtime_error
// naming the flag when a setting is missing or unusable.
std::unique_ptr<HttpsServer> StartInjector(const InjectorFlags& flags, CoordinatorMetrics& metrics);

}  // namespace lagscale::coordinator
