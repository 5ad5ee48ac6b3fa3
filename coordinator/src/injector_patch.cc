// Which pods get the sidecar, with which settings, and the JSON Patch that adds it.
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string_view>

#include "lagscale/coordinator/injector.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

constexpr const char* kInjectLabel = "lagscale.io/inject";

// Annotation name, the field it sets, and the smallest value it accepts (gRPC 0 = off).
struct PortAnnotation {
  const char* key;
  int SidecarPorts::*field;
  int min;
};
constexpr PortAnnotation kPortAnnotations[] = {
    {"lagscale.io/http-port", &SidecarPorts::http, 1},
    {"lagscale.io/grpc-port", &SidecarPorts::grpc, 0},
    {"lagscale.io/admin-port", &SidecarPorts::admin, 1},
    {"lagscale.io/upstream-http-port", &SidecarPorts::upstream_http, 1},
    {"lagscale.io/upstream-grpc-port", &SidecarPorts::upstream_grpc, 1},
};

std::string StringAt(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& ObjectAt(const json& obj, const char* key) {
  static const json kEmpty = json::object();
  const auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

// `value` in quotes for an error message, cut to 256 bytes: it comes from the pod, and an
// annotation has no length limit of its own.
std::string Quoted(std::string_view value) {
  constexpr size_t kMax = 256;
  if (value.size() <= kMax) return "\"" + std::string(value) + "\"";
  return "\"" + std::string(value.substr(0, kMax)) + "...\" (" + std::to_string(value.size()) +
         " bytes)";
}

// "8000" -> 8000; nullopt unless the whole string is a number in [min, 65535].
std::optional<int> ParsePort(const std::string& s, int min) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int v = std::stoi(s);
  if (v < min || v > 65535) return std::nullopt;
  return v;
}

// The server name: annotation, then well-known labels, then the controlling owner (a
// ReplicaSet's name loses its pod-template-hash suffix, giving the Deployment's name).
std::string ServerName(const json& meta, const json& labels, const json& annotations) {
  if (auto s = StringAt(annotations, "lagscale.io/server"); !s.empty()) return s;
  for (const char* label : {"seldon-server-name", "app.kubernetes.io/name", "app"}) {
    if (auto s = StringAt(labels, label); !s.empty()) return s;
  }
  const auto owners = meta.find("ownerReferences");
  if (owners == meta.end() || !owners->is_array()) return "";
  for (const auto& o : *owners) {
    if (!o.is_object() || !o.value("controller", false)) continue;
    std::string name = StringAt(o, "name");
    const std::string hash = StringAt(labels, "pod-template-hash");
    const std::string suffix = "-" + hash;
    if (StringAt(o, "kind") == "ReplicaSet" && !hash.empty() && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      name.resize(name.size() - suffix.size());
    }
    return name;
  }
  return "";
}

// Ports from the annotations over the template's; an error names the annotation and value.
std::optional<std::string> ReadPorts(const json& annotations, SidecarPorts& ports) {
  for (const auto& a : kPortAnnotations) {
    const auto it = annotations.find(a.key);
    if (it == annotations.end()) continue;
    const std::string value = it->is_string() ? it->get<std::string>() : it->dump();
    const auto port = ParsePort(value, a.min);
    if (!port) {
      return std::string(a.key) + ": invalid value " + Quoted(value) +
             " (expected a port number, " + std::to_string(a.min) + "-65535)";
    }
    ports.*a.field = *port;
  }
  return std::nullopt;
}

// The sidecar's listening ports must be distinct and free in the pod's network namespace.
std::optional<std::string> CheckPortsFree(const json& spec, const SidecarPorts& p) {
  const std::pair<const char*, int> listening[] = {{"lagscale.io/http-port", p.http},
                                                   {"lagscale.io/grpc-port", p.grpc},
                                                   {"lagscale.io/admin-port", p.admin}};
  std::set<int> seen;
  for (const auto& [key, port] : listening) {
    if (port == 0) continue;
    if (!seen.insert(port).second) {
      return std::string(key) + ": port " + std::to_string(port) + " is used twice by the sidecar";
    }
    for (const char* list : {"containers", "initContainers"}) {
      for (const auto& c : spec.value(list, json::array())) {
        for (const auto& cp : c.value("ports", json::array())) {
          if (cp.value("containerPort", -1) != port) continue;
          return std::string(key) + ": port " + std::to_string(port) +
                 " is already a port of container " + Quoted(StringAt(c, "name"));
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<InjectOutcome> SkipReason(const json& spec, const json& labels,
                                        const SidecarTemplate& tmpl) {
  if (StringAt(labels, kInjectLabel) == "false") return InjectOutcome::kOptedOut;
  if (!tmpl.skip_labels.empty()) {
    bool all = true;
    for (const auto& [k, v] : tmpl.skip_labels.items()) all = all && labels.value(k, json()) == v;
    if (all) return InjectOutcome::kOwnPod;
  }
  if (spec.value("hostNetwork", false) == true) return InjectOutcome::kHostNetwork;
  const std::string name = tmpl.container.value("name", "");
  for (const char* list : {"containers", "initContainers"}) {
    for (const auto& c : spec.value(list, json::array())) {
      if (StringAt(c, "name") == name) return InjectOutcome::kAlreadyInjected;
    }
  }
  return std::nullopt;
}

std::string Escape(const std::string& key) {  // RFC 6901: "~" -> "~0", "/" -> "~1"
  std::string out;
  for (char ch : key) out += ch == '~' ? "~0" : ch == '/' ? "~1" : std::string(1, ch);
  return out;
}

// Appends `items` to the array at `path`, creating it when the pod has none.
void AddAll(json& patch, const json& parent, const char* key, const std::string& path,
            const json& items) {
  if (items.empty()) return;
  const auto it = parent.find(key);
  if (it == parent.end() || !it->is_array()) {
    patch.push_back({{"op", "add"}, {"path", path}, {"value", items}});
    return;
  }
  for (const auto& item : items)
    patch.push_back({{"op", "add"}, {"path", path + "/-"}, {"value", item}});
}

// The template's volumes to add to the pod. One the pod already has, identical, is shared; a pod
// volume of the same name but another source keeps its name, and ours is added under the first
// free "<name>-<n>", with the sidecar's mounts renamed to follow it. Mounting the pod's volume in
// place of ours would hand the sidecar the wrong token or certificates.
json PodVolumes(const json& spec, const SidecarTemplate& tmpl, json& container) {
  std::map<std::string, json> existing;
  for (const auto& e : spec.value("volumes", json::array())) {
    if (e.is_object()) existing.emplace(StringAt(e, "name"), e);
  }
  json volumes = json::array();
  for (json v : tmpl.volumes) {
    const std::string name = StringAt(v, "name");
    const auto same = existing.find(name);
    if (same != existing.end() && same->second == v) continue;
    if (same != existing.end()) {
      std::string free;
      for (int n = 2; free.empty() || existing.count(free) != 0; ++n) {
        free = name + "-" + std::to_string(n);
      }
      v["name"] = free;
      if (auto mounts = container.find("volumeMounts");
          mounts != container.end() && mounts->is_array()) {
        for (auto& mount : *mounts) {
          if (mount.is_object() && StringAt(mount, "name") == name) mount["name"] = free;
        }
      }
    }
    existing.emplace(StringAt(v, "name"), v);
    volumes.push_back(std::move(v));
  }
  return volumes;
}

json BuildPatch(const json& pod, const SidecarTemplate& tmpl, json container,
                const SidecarPorts& ports, SidecarMode mode) {
  const json& spec = pod["spec"];
  json patch = json::array();
  const json volumes = PodVolumes(spec, tmpl, container);
  if (mode == SidecarMode::kNative) {
    AddAll(patch, spec, "initContainers", "/spec/initContainers", json::array({container}));
  } else {
    AddAll(patch, spec, "containers", "/spec/containers", json::array({container}));
  }
  AddAll(patch, spec, "volumes", "/spec/volumes", volumes);
  // The scrape annotations name the sidecar's admin port; a pod already scraped by annotation
  // keeps its own (the PodMonitor finds the sidecar by its port name instead).
  const json& meta = pod["metadata"];
  const auto annotations = meta.find("annotations");
  const bool has_annotations = annotations != meta.end() && annotations->is_object();
  json add = tmpl.pod_annotations;
  if (add.contains("prometheus.io/port")) add["prometheus.io/port"] = std::to_string(ports.admin);
  if (has_annotations && annotations->contains("prometheus.io/scrape")) add = json::object();
  if (add.empty()) return patch;
  if (!has_annotations) {
    patch.push_back({{"op", "add"}, {"path", "/metadata/annotations"}, {"value", add}});
  } else {
    for (const auto& [k, v] : add.items()) {
      patch.push_back(
          {{"op", "add"}, {"path", "/metadata/annotations/" + Escape(k)}, {"value", v}});
    }
  }
  return patch;
}

}  // namespace

const char* OutcomeName(InjectOutcome outcome) {
  switch (outcome) {
    case InjectOutcome::kInjected:
      return "injected";
    case InjectOutcome::kOptedOut:
      return "skipped_opt_out";
    case InjectOutcome::kHostNetwork:
      return "skipped_host_network";
    case InjectOutcome::kAlreadyInjected:
      return "skipped_already_injected";
    case InjectOutcome::kOwnPod:
      return "skipped_own_pod";
    case InjectOutcome::kBadAnnotation:
      return "skipped_bad_annotation";
    case InjectOutcome::kInvalidPod:
      return "skipped_invalid_pod";
  }
  return "unknown";
}

Injection InjectPod(const json& pod, const SidecarTemplate& tmpl, SidecarMode mode) {
  Injection out;
  const bool shaped = pod.is_object() && pod.contains("metadata") && pod["metadata"].is_object() &&
                      pod.contains("spec") && pod["spec"].is_object() &&
                      pod["spec"].contains("containers") && pod["spec"]["containers"].is_array();
  if (!shaped) {
    out.detail = "the object is not a pod with metadata and spec.containers";
    return out;
  }
  const json& meta = pod["metadata"];
  const json& spec = pod["spec"];
  const json& labels = ObjectAt(meta, "labels");
  const json& annotations = ObjectAt(meta, "annotations");
  if (const auto skip = SkipReason(spec, labels, tmpl)) {
    out.outcome = *skip;
    return out;
  }
  SidecarPorts ports = tmpl.ports;
  auto error = ReadPorts(annotations, ports);
  if (!error) error = CheckPortsFree(spec, ports);
  const std::string server = ServerName(meta, labels, annotations);
  static const std::regex kName("[a-z0-9]([-a-z0-9._]{0,251}[a-z0-9])?");
  if (!error && !server.empty() && !std::regex_match(server, kName)) {
    error = "server name " + Quoted(server) +
            " (from lagscale.io/server, a label or the owner) is not a lower-case DNS name";
  }
  if (error) {
    out.outcome = InjectOutcome::kBadAnnotation;
    out.detail = *error;
    return out;
  }
  const json container = SidecarContainer(tmpl, ports, server, mode);
  out.patch = BuildPatch(pod, tmpl, container, ports, mode);
  out.outcome = InjectOutcome::kInjected;
  out.detail = (server.empty() ? std::string("no server name") : "server \"" + server + "\"") +
               ", ports http " + std::to_string(ports.http) + " grpc " +
               std::to_string(ports.grpc) + " admin " + std::to_string(ports.admin) +
               " -> upstream " + std::to_string(ports.upstream_http) + "/" +
               std::to_string(ports.upstream_grpc);
  return out;
}

}  // namespace lagscale::coordinator
