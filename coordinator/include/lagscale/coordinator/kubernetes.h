#pragma once

// The Kubernetes actuator: reads and writes the scale subresource
// (/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}/scale) of Seldon Core 2 Model/Server,
// Deployment and StatefulSet objects with JSON merge patches of absolute replica counts, over
// HTTPS (Boost.Beast + OpenSSL). Credentials come from the pod's service account or a kubeconfig.
// Thread safety: the actuator is used from the actuation thread only (see actuator.h); the
// loaders are plain functions.

#include <functional>
#include <memory>
#include <string>

#include "lagscale/coordinator/actuator.h"

namespace lagscale::coordinator {

struct KubeConnection {
  std::string server;  // https://host:port
  std::string ca_pem;  // trust anchor for the API server; empty = system CAs
  bool insecure_skip_verify = false;
  std::string token;       // bearer token (static)
  std::string token_file;  // bearer token re-read every minute (service-account tokens rotate)
  std::string client_cert_pem;
  std::string client_key_pem;
};

// In-cluster: KUBERNETES_SERVICE_HOST/PORT and `dir`/{token,ca.crt}. Throws std::runtime_error.
KubeConnection InClusterConnection(
    const std::string& dir = "/var/run/secrets/kubernetes.io/serviceaccount");
// The current context of a kubeconfig file: token, token file or client-certificate users,
// inline (*-data, base64) or file references. Throws std::runtime_error naming the field, or the
// file when a referenced file (a tokenFile included) cannot be read.
KubeConnection KubeconfigConnection(const std::string& path);

struct KubernetesOptions {
  double timeout_s = 5;
  // Asked just before every write (PATCH); false skips the write. Leader election sets it so that
  // a process that stopped leading never writes, even a decision it queued while it led.
  std::function<bool()> may_write;
};

std::unique_ptr<Actuator> MakeKubernetesActuator(const KubeConnection& connection,
                                                 const KubernetesOptions& options = {});

}  // namespace lagscale::coordinator
