#pragma once

// Sidecar injection: from a pod (the `object` of an AdmissionReview) and the sidecar template the
// chart renders from its `lagscale.sidecar` named template, decide whether to inject and build the
// RFC 6902 JSON Patch that adds the sidecar, its volumes and its pod annotations.
//
// The template is the one source of truth for the container spec. The injector changes only the
// fields a pod may override by annotation: the listening/upstream ports (container ports and the
// LAGSCALE_LISTEN/UPSTREAM/GRPC_LISTEN/GRPC_UPSTREAM/ADMIN env), the server name
// (LAGSCALE_SERVER_NAME) and the prometheus.io/port annotation; in native mode it also adds
// `restartPolicy: Always` and a startup probe.
// Thread safety: all functions are pure; a SidecarTemplate is immutable once loaded.

#include <nlohmann/json.hpp>
#include <string>

namespace lagscale::coordinator {

// The ports a sidecar listens on and forwards to. grpc 0 disables gRPC proxying.
struct SidecarPorts {
  int http = 8000;
  int grpc = 8001;
  int admin = 9090;
  int upstream_http = 9000;
  int upstream_grpc = 9001;
};

struct SidecarTemplate {
  nlohmann::json container;        // one container, exactly as the named template renders it
  nlohmann::json volumes;          // array: pod volumes the container mounts (may be empty)
  nlohmann::json pod_annotations;  // object: Prometheus scrape annotations (may be empty)
  nlohmann::json skip_labels;      // object: a pod carrying all these labels is never injected
  SidecarPorts ports;              // the ports the container was rendered with
};

// Parses the template file's JSON. Throws std::runtime_error saying what is missing or wrong.
SidecarTemplate ParseSidecarTemplate(const std::string& json_text);
// Reads and parses `path`; errors name the flag --webhook-sidecar-template and the path.
SidecarTemplate LoadSidecarTemplate(const std::string& path);

// kNative: an init container with restartPolicy Always (Kubernetes >= 1.29): up before the
// model server, stopped after it. kContainer: an ordinary container, for older clusters.
enum class SidecarMode { kNative, kContainer };

enum class InjectOutcome {
  kInjected,
  kOptedOut,         // label lagscale.io/inject=false
  kHostNetwork,      // spec.hostNetwork: the sidecar's ports would be the node's
  kAlreadyInjected,  // a lagscale-sidecar container is there (reinvocation, or added by hand)
  kOwnPod,           // the coordinator's own pods (the template's skip_labels)
  kBadAnnotation,    // a lagscale.io/* annotation has an invalid value
  kInvalidPod,       // the object is not a pod spec we can patch
};
// "injected", "skipped_opt_out", ... as counted on /metrics.
const char* OutcomeName(InjectOutcome outcome);

struct Injection {
  InjectOutcome outcome = InjectOutcome::kInvalidPod;
  nlohmann::json patch = nlohmann::json::array();  // JSON Patch ops; empty unless kInjected
  std::string detail;  // why it was skipped, or the server name and ports it was injected with
};

Injection InjectPod(const nlohmann::json& pod, const SidecarTemplate& tmpl, SidecarMode mode);

// The sidecar container for one pod: the template with the pod's ports and server name filled in
// (and the native-sidecar fields in kNative mode). Exposed for tests.
nlohmann::json SidecarContainer(const SidecarTemplate& tmpl, const SidecarPorts& ports,
                                const std::string& server_name, SidecarMode mode);

}  // namespace lagscale::coordinator
