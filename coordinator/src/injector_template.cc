// The sidecar template file (rendered by the chart into the injector ConfigMap) and the per-pod
// container built from it.
#include <stdexcept>

#include "lagscale/base/text_file.h"
#include "lagscale/coordinator/injector.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

std::string Where(const std::string& where) { return "sidecar template: " + where; }

const json& Require(const json& doc, const char* key, json::value_t type) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->type() != type) {
    throw std::runtime_error(
        Where(std::string("\"") + key + "\" is missing or has the wrong type"));
  }
  return *it;
}

int PortField(const json& ports, const char* key, int min) {
  const auto it = ports.find(key);
  if (it == ports.end() || !it->is_number_integer() || it->get<int>() < min ||
      it->get<int>() > 65535) {
    throw std::runtime_error(Where(std::string("ports.") + key + " must be a port number"));
  }
  return it->get<int>();
}

// The element of a name/value list (env, ports) called `name`, or end().
json::iterator Named(json& list, const std::string& name) {
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it->is_object() && it->value("name", "") == name) return it;
  }
  return list.end();
}

// Sets env `name` to `value`: in place when present, else inserted after env `after`.
void SetEnv(json& env, const std::string& name, const std::string& value, const char* after) {
  auto it = Named(env, name);
  if (it != env.end()) {
    *it = json{{"name", name}, {"value", value}};
    return;
  }
  auto pos = Named(env, after);
  env.insert(pos == env.end() ? env.end() : pos + 1, json{{"name", name}, {"value", value}});
}

void SetPort(json& ports, const std::string& name, int port, const char* after) {
  auto it = Named(ports, name);
  if (it != ports.end()) {
    (*it)["containerPort"] = port;
    return;
  }
  auto pos = Named(ports, after);
  ports.insert(pos == ports.end() ? ports.end() : pos + 1,
               json{{"name", name}, {"containerPort", port}, {"protocol", "TCP"}});
}

void Erase(json& list, const std::string& name) {
  auto it = Named(list, name);
  if (it != list.end()) list.erase(it);
}

}  // namespace

SidecarTemplate ParseSidecarTemplate(const std::string& json_text) {
  const json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw std::runtime_error(Where("not a JSON object"));
  SidecarTemplate t;
  t.container = Require(doc, "container", json::value_t::object);
  if (t.container.value("name", "").empty())
    throw std::runtime_error(Where("container has no name"));
  if (!t.container.contains("env") || !t.container["env"].is_array() ||
      !t.container.contains("ports") || !t.container["ports"].is_array()) {
    throw std::runtime_error(Where("container needs env and ports lists"));
  }
  t.volumes = doc.value("volumes", json::array());
  t.pod_annotations = doc.value("podAnnotations", json::object());
  t.skip_labels = doc.value("skipPodLabels", json::object());
  if (!t.volumes.is_array() || !t.pod_annotations.is_object() || !t.skip_labels.is_object()) {
    throw std::runtime_error(
        Where("volumes must be a list, podAnnotations and skipPodLabels maps"));
  }
  const json& ports = Require(doc, "ports", json::value_t::object);
  t.ports = {PortField(ports, "http", 1), PortField(ports, "grpc", 0), PortField(ports, "admin", 1),
             PortField(ports, "upstreamHttp", 1), PortField(ports, "upstreamGrpc", 1)};
  return t;
}

SidecarTemplate LoadSidecarTemplate(const std::string& path) {
  const std::string text = base::ReadTextFile(path, "--webhook-sidecar-template").OrThrow();
  try {
    return ParseSidecarTemplate(text);
  } catch (const std::exception& e) {
    throw std::runtime_error("--webhook-sidecar-template \"" + path + "\": " + e.what());
  }
}

json SidecarContainer(const SidecarTemplate& tmpl, const SidecarPorts& p,
                      const std::string& server_name, SidecarMode mode) {
  json c = tmpl.container;
  json& env = c["env"];
  SetEnv(env, "LAGSCALE_LISTEN", "0.0.0.0:" + std::to_string(p.http), "POD_NAME");
  SetEnv(env, "LAGSCALE_UPSTREAM", "127.0.0.1:" + std::to_string(p.upstream_http),
         "LAGSCALE_LISTEN");
  SetEnv(env, "LAGSCALE_GRPC_LISTEN", p.grpc > 0 ? "0.0.0.0:" + std::to_string(p.grpc) : "",
         "LAGSCALE_UPSTREAM");
  if (p.grpc > 0) {
    SetEnv(env, "LAGSCALE_GRPC_UPSTREAM", "127.0.0.1:" + std::to_string(p.upstream_grpc),
           "LAGSCALE_GRPC_LISTEN");
  } else {
    Erase(env, "LAGSCALE_GRPC_UPSTREAM");
    Erase(env, "LAGSCALE_GRPC_ENGINE");  // as the chart renders a sidecar without gRPC
  }
  SetEnv(env, "LAGSCALE_ADMIN", "0.0.0.0:" + std::to_string(p.admin), "LAGSCALE_GRPC_UPSTREAM");
  if (!server_name.empty())
    SetEnv(env, "LAGSCALE_SERVER_NAME", server_name, "LAGSCALE_COORDINATOR");
  json& ports = c["ports"];
  SetPort(ports, "lagscale-http", p.http, "");
  if (p.grpc > 0) {
    SetPort(ports, "lagscale-grpc", p.grpc, "lagscale-http");
  } else {
    Erase(ports, "lagscale-grpc");
  }
  SetPort(ports, "lagscale-admin", p.admin, "lagscale-grpc");
  if (mode == SidecarMode::kNative) {
    // Started = the process listens (/healthz). Not /readyz: that needs the model server, which
    // the kubelet starts only after this probe passes.
    c["restartPolicy"] = "Always";
    c["startupProbe"] = {{"httpGet", {{"path", "/healthz"}, {"port", "lagscale-admin"}}},
                         {"periodSeconds", 1},
                         {"failureThreshold", 30}};
  }
  return c;
}

}  // namespace lagscale::coordinator
