// Where the Kubernetes API is and how to authenticate to it: in-cluster or kubeconfig.
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "http_client.h"
#include "lagscale/base/text_file.h"
#include "lagscale/coordinator/kubernetes.h"

namespace lagscale::coordinator {
namespace {

std::string ReadFile(const std::string& path, const std::string& what) {
  return base::ReadTextFile(path, what).OrThrow();
}

std::string Base64Decode(const std::string& in, const std::string& field) {
  std::string clean;
  for (char c : in) {
    if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  }
  if (clean.size() % 4 != 0) throw std::runtime_error("kubeconfig: " + field + ": not base64");
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()),
                                static_cast<int>(clean.size()));
  if (n < 0) throw std::runtime_error("kubeconfig: " + field + ": not base64");
  size_t pad = 0;
  while (pad < 2 && clean.size() > pad && clean[clean.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

YAML::Node Named(const YAML::Node& list, const std::string& name, const std::string& field) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
  }
  throw std::runtime_error("kubeconfig: " + field + " \"" + name + "\" not found");
}

// A credential given inline (`<key>-data`, base64) or as a file path relative to the kubeconfig.
std::string DataOrFile(const YAML::Node& node, const std::string& key, const std::string& base,
                       const std::string& field) {
  if (auto d = node[key + "-data"])
    return Base64Decode(d.as<std::string>(), field + "." + key + "-data");
  if (auto f = node[key]) {
    std::filesystem::path p(f.as<std::string>());
    if (p.is_relative()) p = std::filesystem::path(base) / p;
    return ReadFile(p.string(), "kubeconfig: " + field + "." + key);
  }
  return "";
}

}  // namespace

KubeConnection InClusterConnection(const std::string& dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) {
    throw std::runtime_error(
        "kubernetes: KUBERNETES_SERVICE_HOST is not set (not in a cluster? use --kubeconfig)");
  }
  KubeConnection c;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 service address
  c.server = "https://" + h + ":" + (port && *port ? port : "443");
  c.ca_pem = ReadFile(dir + "/ca.crt", "kubernetes: service-account CA");
  c.token_file = dir + "/token";
  ReadFile(c.token_file, "kubernetes: service-account token");  // fail early when missing
  return c;
}

namespace {

// The connection a parsed kubeconfig describes; `base` is its directory. Throws
// std::runtime_error naming the field, or YAML::Exception for a field of the wrong shape.
KubeConnection FromKubeconfig(const YAML::Node& root, const std::string& base) {
  if (!root["current-context"]) throw std::runtime_error("kubeconfig: current-context: missing");
  const std::string context_name = root["current-context"].as<std::string>();
  const YAML::Node context = Named(root["contexts"], context_name, "context")["context"];
  if (!context) throw std::runtime_error("kubeconfig: context \"" + context_name + "\" is empty");
  const std::string cluster_name = context["cluster"].as<std::string>("");
  const std::string user_name = context["user"].as<std::string>("");
  const YAML::Node cluster = Named(root["clusters"], cluster_name, "cluster")["cluster"];
  KubeConnection c;
  if (!cluster || !cluster["server"]) {
    throw std::runtime_error("kubeconfig: cluster \"" + cluster_name + "\": server: missing");
  }
  c.server = cluster["server"].as<std::string>();
  // Refused here, naming the file's field, rather than when the first API request is built.
  if (!ParseHttpUrl(c.server)) {
    throw std::runtime_error("kubeconfig: cluster \"" + cluster_name + "\": server: \"" +
                             c.server.substr(0, 256) +
                             "\" is not an http(s) URL (e.g. https://10.0.0.1:6443)");
  }
  c.ca_pem = DataOrFile(cluster, "certificate-authority", base, "cluster");
  c.insecure_skip_verify = cluster["insecure-skip-tls-verify"].as<bool>(false);
  if (!user_name.empty()) {
    const YAML::Node user = Named(root["users"], user_name, "user")["user"];
    if (user) {
      if (auto t = user["token"]) c.token = t.as<std::string>();
      if (auto tf = user["tokenFile"]) {
        std::filesystem::path p(tf.as<std::string>());
        if (p.is_relative()) p = std::filesystem::path(base) / p;
        c.token_file = p.string();
        // Re-read on use (it rotates), but read once now: a file that is not there would
        // otherwise send every request without a token, as in-cluster mode checks its own.
        base::ReadSecretFile(c.token_file, "kubeconfig: user \"" + user_name + "\": tokenFile")
            .OrThrow();
      }
      c.client_cert_pem = DataOrFile(user, "client-certificate", base, "user");
      c.client_key_pem = DataOrFile(user, "client-key", base, "user");
      // Credential plugins (EKS's `aws eks get-token`, GKE's gke-gcloud-auth-plugin, the old
      // auth-provider entries) run cloud CLIs the coordinator's image does not carry. In a cluster
      // the coordinator needs no kubeconfig at all; outside one, a token or certificate works.
      if (user["exec"] || user["auth-provider"]) {
        if (c.token.empty() && c.token_file.empty() && c.client_cert_pem.empty()) {
          const std::string plugin = user["exec"] ? "exec credential plugin" : "auth-provider";
          std::string command;
          if (user["exec"] && user["exec"]["command"]) {
            command = " (\"" + user["exec"]["command"].as<std::string>() + "\")";
          }
          throw std::runtime_error(
              "kubeconfig: user \"" + user_name + "\": " + plugin + command +
              " is not supported. Run the coordinator in the cluster with its service account "
              "(omit --kubeconfig; the chart does this), or give this user a token, tokenFile or "
              "client certificate (e.g. a ServiceAccount token from `kubectl create token`)");
        }
      }
    }
  }
  if (!c.client_cert_pem.empty() && c.client_key_pem.empty()) {
    throw std::runtime_error("kubeconfig: user \"" + user_name + "\": client-key: missing");
  }
  return c;
}

}  // namespace

KubeConnection KubeconfigConnection(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("--kubeconfig: cannot load \"" + path + "\": " + e.what());
  }
  try {
    return FromKubeconfig(root, std::filesystem::path(path).parent_path().string());
  } catch (const YAML::Exception& e) {
    // A value of the wrong shape (a list where a name belongs, a file that is one string...):
    // yaml-cpp's own message names only a line, so say which file it is about.
    throw std::runtime_error("kubeconfig \"" + path + "\" is not a valid kubeconfig: " + e.what());
  }
}

}  // namespace lagscale::coordinator
