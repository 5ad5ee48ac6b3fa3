// Parsing of the coordinator's YAML config (format: coordinator/config.example.yaml): the top
// level, servers, models, seldon and limits. Policy settings are read in config_policy.cc, single
// values in config_values.cc, the `actuator` key in config_actuators.cc.
#include "lagscale/coordinator/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <utility>

#include "config_actuators.h"
#include "config_policy.h"
#include "config_values.h"
#include "lagscale/base/text_file.h"

namespace lagscale::coordinator {
namespace {

using config_yaml::CheckKeys;
using config_yaml::Duration;
using config_yaml::Fail;
using config_yaml::Join;
using config_yaml::Num;
using config_yaml::Scalar;

// The kinds a target may name, with the resource (plural) their scale subresource lives under.
const std::vector<std::pair<std::string, std::string>> kTargetKinds = {
    {"Model", "models"},
    {"Server", "servers"},
    {"Deployment", "deployments"},
    {"StatefulSet", "statefulsets"},
    {"ReplicaSet", "replicasets"}};

YAML::Node LoadYaml(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("config: not valid YAML: ") + e.what());
  }
}

// reportTTL and decisionInterval, read when present and validated either way.
void ReadIntervals(const YAML::Node& root, Config& c) {
  if (auto n = root["reportTTL"]) c.report_ttl_s = Duration(n, "reportTTL");
  // At most the hour the aggregator keeps: a longer TTL would outlive every pod's history (and
  // in nanoseconds overflow the clock arithmetic).
  if (!(c.report_ttl_s > 0) || c.report_ttl_s > kMaxHistorySeconds) {
    Fail("reportTTL", "invalid value " + Num(c.report_ttl_s) + "s (must be in (0, 1h])");
  }
  if (auto n = root["decisionInterval"]) c.decision_interval_s = Duration(n, "decisionInterval");
  if (c.decision_interval_s < 0.01 || c.decision_interval_s > 60) {
    Fail("decisionInterval",
         "invalid value " + Num(c.decision_interval_s) + "s (must be 10ms..60s)");
  }
}

// windows: the averaging windows /status shows, each in (0, 1h].
std::vector<double> ReadWindows(const YAML::Node& n) {
  if (!n.IsSequence()) Fail("windows", "expected a list of durations");
  std::vector<double> windows;
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string f = "windows[" + std::to_string(i) + "]";
    const double w = Duration(n[i], f);
    if (!(w > 0) || w > kMaxHistorySeconds) {
      Fail(f, "invalid value " + Num(w) + "s (must be in (0, 1h])");
    }
    windows.push_back(w);
  }
  return windows;
}

// defaults: the policy every model starts from, validated even when absent.
ModelPolicyConfig ReadDefaults(const YAML::Node& n) {
  ModelPolicyConfig defaults;
  if (n) {
    CheckKeys(n, "defaults", config_yaml::ModelPolicyKeys());
    config_yaml::ReadModelPolicy(n, "defaults", defaults);
  }
  config_yaml::ValidateModelPolicy(defaults, "defaults");
  return defaults;
}

std::optional<ScaleTarget> ReadTarget(const YAML::Node& node, const std::string& field) {
  if (!node) return std::nullopt;
  CheckKeys(node, field, {"apiVersion", "kind", "name", "namespace"});
  auto get = [&](const char* key, const std::string& fallback) {
    auto n = node[key];
    if (!n) {
      if (fallback.empty()) Fail(Join(field, key), "missing");
      return fallback;
    }
    return Scalar(n, Join(field, key));
  };
  return MakeScaleTarget(get("apiVersion", ""), get("kind", ""), get("name", ""),
                         get("namespace", "default"), field);
}

std::string Name(const YAML::Node& node, const std::string& field) {
  auto n = node["name"];
  if (!n) Fail(Join(field, "name"), "missing");
  std::string name = Scalar(n, Join(field, "name"));
  if (name.empty()) Fail(Join(field, "name"), "must not be empty");
  return name;
}

// The entries of the list `key` (servers, models): each a mapping of `allowed` keys with a name no
// earlier entry has; read(entry, field, name) reads the rest.
template <typename Entry, typename ReadEntry>
std::vector<Entry> ReadNamedList(const YAML::Node& list, const std::string& key, const char* noun,
                                 const std::set<std::string>& allowed, ReadEntry read) {
  if (!list.IsSequence()) Fail(key, "expected a list");
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string f = key + "[" + std::to_string(i) + "]";
    const YAML::Node entry = list[i];
    CheckKeys(entry, f, allowed);
    std::string name = Name(entry, f);
    if (!seen.insert(name).second)
      Fail(f + ".name", std::string("duplicate ") + noun + " \"" + name + "\"");
    entries.push_back(read(entry, f, std::move(name)));
  }
  return entries;
}

ServerConfig ReadServer(const YAML::Node& s, const std::string& f, std::string name) {
  ServerConfig sc;
  sc.name = std::move(name);
  sc.policy = config_yaml::ReadServerPolicy(s, f);
  sc.target = ReadTarget(s["target"], f + ".target");
  if (auto n = s["actuator"]) sc.actuator = ParseActuatedBy(Scalar(n, f + ".actuator"), f);
  return sc;
}

std::vector<ServerConfig> ReadServers(const YAML::Node& list) {
  std::set<std::string> keys = config_yaml::ServerPolicyKeys();
  keys.insert({"name", "target", "actuator"});
  return ReadNamedList<ServerConfig>(list, "servers", "server", keys, ReadServer);
}

// A model: its own policy settings over the defaults, on a server listed before it.
ModelConfig ReadModel(const YAML::Node& m, const std::string& f, std::string name,
                      const Config& c) {
  ModelConfig mc;
  mc.name = std::move(name);
  if (auto n = m["server"]) {
    mc.server = Scalar(n, f + ".server");
    if (!c.FindServer(mc.server)) {
      Fail(f + ".server", "unknown server \"" + mc.server + "\" (not in servers)");
    }
  }
  mc.policy = c.defaults;
  config_yaml::ReadModelPolicy(m, f, mc.policy);
  config_yaml::ValidateModelPolicy(mc.policy, f);
  mc.target = ReadTarget(m["target"], f + ".target");
  if (auto n = m["actuator"]) mc.actuator = ParseActuatedBy(Scalar(n, f + ".actuator"), f);
  return mc;
}

std::vector<ModelConfig> ReadModels(const YAML::Node& list, const Config& c) {
  std::set<std::string> keys = config_yaml::ModelPolicyKeys();
  keys.insert({"name", "server", "target", "actuator"});
  return ReadNamedList<ModelConfig>(
      list, "models", "model", keys,
      [&](const YAML::Node& m, const std::string& f, std::string name) {
        return ReadModel(m, f, std::move(name), c);
      });
}

SeldonConfig ReadSeldon(const YAML::Node& n) {
  CheckKeys(n, "seldon", {"enabled", "namespace"});
  SeldonConfig seldon;
  if (auto e = n["enabled"]) seldon.enabled = config_yaml::Boolean(e, "seldon.enabled");
  if (auto ns = n["namespace"]) seldon.name_space = Scalar(ns, "seldon.namespace");
  if (seldon.name_space.empty()) Fail("seldon.namespace", "must not be empty");
  return seldon;
}

// limits: caps on what reporters can make the coordinator hold (each 1..1,000,000).
LimitsConfig ReadLimits(const YAML::Node& n) {
  CheckKeys(n, "limits", {"maxModels", "maxPods", "maxModelsPerPod"});
  LimitsConfig limits;
  const std::pair<const char*, size_t*> fields[] = {
      {"maxModels", &limits.max_models},
      {"maxPods", &limits.max_pods},
      {"maxModelsPerPod", &limits.max_models_per_pod}};
  for (const auto& [key, into] : fields) {
    const auto v = n[key];
    if (!v) continue;
    const std::string field = std::string("limits.") + key;
    const int value = config_yaml::Integer(v, field);
    if (value < 1) Fail(field, "invalid value \"" + Scalar(v, field) + "\" (must be >= 1)");
    *into = static_cast<size_t>(value);
  }
  return limits;
}

}  // namespace

std::string ScaleTarget::ObjectPath() const {
  return "/apis/" + group + "/" + version + "/namespaces/" + name_space + "/" + plural + "/" + name;
}
std::string ScaleTarget::ScalePath() const { return ObjectPath() + "/scale"; }

ScaleTarget MakeScaleTarget(const std::string& api_version, const std::string& kind,
                            const std::string& name, const std::string& name_space,
                            const std::string& field) {
  ScaleTarget t{api_version, kind, name, name_space, "", "", ""};
  const auto slash = api_version.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == api_version.size()) {
    Fail(Join(field, "apiVersion"),
         "invalid value \"" + api_version + "\" (expected group/version, e.g. apps/v1)");
  }
  t.group = api_version.substr(0, slash);
  t.version = api_version.substr(slash + 1);
  std::vector<std::string> kinds;
  for (const auto& [k, plural] : kTargetKinds) {
    if (k == kind) t.plural = plural;
    kinds.push_back(k);
  }
  if (t.plural.empty()) {
    Fail(Join(field, "kind"),
         "invalid value \"" + kind + "\" (expected " + config_yaml::OneOf(kinds) + ")");
  }
  if (name.empty()) Fail(Join(field, "name"), "must not be empty");
  if (name_space.empty()) Fail(Join(field, "namespace"), "must not be empty");
  return t;
}

Config ParseConfig(const std::string& yaml_text) {
  const YAML::Node root = LoadYaml(yaml_text);
  Config c;
  if (root.IsNull()) return c;
  CheckKeys(root, "",
            {"reportTTL", "decisionInterval", "windows", "defaults", "servers", "models", "seldon",
             "limits"});
  ReadIntervals(root, c);
  if (auto n = root["windows"]) c.windows_s = ReadWindows(n);
  c.defaults = ReadDefaults(root["defaults"]);
  if (auto n = root["servers"]) c.servers = ReadServers(n);
  if (auto n = root["models"]) c.models = ReadModels(n, c);
  if (auto n = root["seldon"]) c.seldon = ReadSeldon(n);
  CheckOneWriterPerTarget(c);
  if (auto n = root["limits"]) c.limits = ReadLimits(n);
  return c;
}

Config LoadConfigFile(const std::string& path) {
  auto text = base::ReadTextFile(path, "config");
  if (!text) throw ConfigError(text.error());
  return ParseConfig(*text);
}

const ModelConfig* Config::FindModel(const std::string& name) const {
  for (const auto& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const ServerConfig* Config::FindServer(const std::string& name) const {
  for (const auto& s : servers) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

double Config::HistorySeconds() const {
  double h = 1;
  auto take = [&](const ModelPolicyConfig& p) {
    // Target tracking compares its stable window with the two ending now (a slow fall).
    h = std::max(
        {h, 2 * p.tracking.stable_window_s, p.tracking.panic_window_s, p.lag.lag_window_s});
  };
  take(defaults);
  for (const auto& m : models) take(m.policy);
  for (double w : windows_s) h = std::max(h, w);
  return std::min(h, kMaxHistorySeconds);
}

}  // namespace lagscale::coordinator
