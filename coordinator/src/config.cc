// Parsing and validation of the coordinator's YAML config (format:
// coordinator/config.example.yaml).
#include "lagscale/coordinator/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config_actuators.h"

namespace lagscale::coordinator {
namespace {

[[noreturn]] void Fail(const std::string& field, const std::string& what) {
  throw ConfigError("config: " + field + ": " + what);
}

std::string Scalar(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) Fail(field, "expected a single value");
  return node.Scalar();
}

// Applies a CLI11 unit transform (the same parser the command line uses) to `text`.
double WithUnit(const std::string& text, const std::string& field,
                const std::map<std::string, double>& units, const char* expected) {
  CLI::AsNumberWithUnit transform(units, CLI::AsNumberWithUnit::CASE_SENSITIVE);
  std::string value = text;
  std::string error;
  try {
    error = transform(value);
  } catch (const std::exception& e) {
    error = e.what();
  }
  double result = 0;
  if (!error.empty() || !CLI::detail::lexical_cast(value, result) || !std::isfinite(result)) {
    Fail(field, "invalid value \"" + text + "\" (expected " + expected + ")");
  }
  return result;
}

double Number(const YAML::Node& node, const std::string& field) {
  const std::string text = Scalar(node, field);
  double value = 0;
  if (!CLI::detail::lexical_cast(text, value) || !std::isfinite(value)) {
    Fail(field, "invalid value \"" + text + "\" (expected a number)");
  }
  return value;
}

int Integer(const YAML::Node& node, const std::string& field) {
  const std::string text = Scalar(node, field);
  long long value = 0;
  if (!CLI::detail::lexical_cast(text, value) || value < 0 || value > 1'000'000) {
    Fail(field, "invalid value \"" + text + "\" (expected a whole number >= 0)");
  }
  return static_cast<int>(value);
}

void CheckKeys(const YAML::Node& node, const std::string& field,
               const std::set<std::string>& allowed) {
  if (!node.IsMap()) Fail(field, "expected a mapping");
  for (const auto& kv : node) {
    // A key that is itself a list or mapping ("{[a]: 1}") has no name to check.
    if (!kv.first.IsScalar()) Fail(field.empty() ? "(top level)" : field, "keys must be names");
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) Fail(field.empty() ? key : field + "." + key, "unknown field");
  }
}

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

const std::set<std::string> kPolicyKeys = {"policy",
                                           "minReplicas",
                                           "maxReplicas",
                                           "targetConcurrency",
                                           "targetTokensPerSecond",
                                           "tolerance",
                                           "stableWindow",
                                           "panicWindow",
                                           "panicThreshold",
                                           "scaleDownDelay",
                                           "maxScaleUpRate",
                                           "maxScaleDownRate",
                                           "lagThreshold",
                                           "lagWindow",
                                           "idleWindow",
                                           "memory",
                                           "flapWindow",
                                           "maxScaleDownDelay",
                                           "lagProportional",
                                           "backlogDrain",
                                           "startupDelay"};

// Overlays the policy keys present in `node` onto `policy`.
void ReadPolicy(const YAML::Node& node, const std::string& prefix, ModelPolicyConfig& policy) {
  auto f = [&](const char* key) { return Join(prefix, key); };
  if (auto n = node["policy"]) {
    const std::string kind = Scalar(n, f("policy"));
    if (kind == "target-tracking") {
      policy.kind = PolicyKind::kTargetTracking;
    } else if (kind == "lag-threshold") {
      policy.kind = PolicyKind::kLagThreshold;
    } else {
      Fail(f("policy"),
           "invalid value \"" + kind + "\" (expected target-tracking or lag-threshold)");
    }
  }
  if (auto n = node["minReplicas"]) policy.min_replicas = Integer(n, f("minReplicas"));
  if (auto n = node["maxReplicas"]) policy.max_replicas = Integer(n, f("maxReplicas"));
  if (auto n = node["targetConcurrency"])
    policy.target_concurrency = Number(n, f("targetConcurrency"));
  if (auto n = node["targetTokensPerSecond"])
    policy.target_tokens_per_second = Number(n, f("targetTokensPerSecond"));
  if (auto n = node["tolerance"]) policy.tolerance = Number(n, f("tolerance"));
  if (auto n = node["stableWindow"])
    policy.stable_window_s = ParseDuration(Scalar(n, f("stableWindow")), f("stableWindow"));
  if (auto n = node["panicWindow"])
    policy.panic_window_s = ParseDuration(Scalar(n, f("panicWindow")), f("panicWindow"));
  if (auto n = node["panicThreshold"]) policy.panic_threshold = Number(n, f("panicThreshold"));
  if (auto n = node["scaleDownDelay"])
    policy.scale_down_delay_s = ParseDuration(Scalar(n, f("scaleDownDelay")), f("scaleDownDelay"));
  if (auto n = node["maxScaleUpRate"]) policy.max_scale_up_rate = Number(n, f("maxScaleUpRate"));
  if (auto n = node["maxScaleDownRate"])
    policy.max_scale_down_rate = Number(n, f("maxScaleDownRate"));
  if (auto n = node["lagThreshold"]) policy.lag_threshold = Number(n, f("lagThreshold"));
  if (auto n = node["lagWindow"])
    policy.lag_window_s = ParseDuration(Scalar(n, f("lagWindow")), f("lagWindow"));
  if (auto n = node["idleWindow"])
    policy.idle_window_s = ParseDuration(Scalar(n, f("idleWindow")), f("idleWindow"));
  if (auto n = node["flapWindow"])
    policy.flap_window_s = ParseDuration(Scalar(n, f("flapWindow")), f("flapWindow"));
  if (auto n = node["maxScaleDownDelay"])
    policy.max_scale_down_delay_s =
        ParseDuration(Scalar(n, f("maxScaleDownDelay")), f("maxScaleDownDelay"));
  if (auto n = node["backlogDrain"])
    policy.backlog_drain_s = ParseDuration(Scalar(n, f("backlogDrain")), f("backlogDrain"));
  if (auto n = node["startupDelay"])
    policy.startup_delay_s = ParseDuration(Scalar(n, f("startupDelay")), f("startupDelay"));
  if (auto n = node["lagProportional"]) {
    const std::string v = Scalar(n, f("lagProportional"));
    if (v != "true" && v != "false")
      Fail(f("lagProportional"), "invalid value \"" + v + "\" (expected true or false)");
    policy.lag_proportional = v == "true";
  }
  if (auto n = node["memory"])
    policy.memory_bytes = ParseBytes(Scalar(n, f("memory")), f("memory"));
}

std::string Num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

void ValidatePolicy(const ModelPolicyConfig& p, const std::string& prefix) {
  auto f = [&](const char* key) { return Join(prefix, key); };
  if (p.max_replicas < 1)
    Fail(f("maxReplicas"), "invalid value " + Num(p.max_replicas) + " (must be >= 1)");
  if (p.min_replicas > p.max_replicas) {
    Fail(f("minReplicas"), "invalid value " + Num(p.min_replicas) + " (greater than maxReplicas " +
                               Num(p.max_replicas) + ")");
  }
  auto positive = [&](double v, const char* key) {
    if (!(v > 0)) Fail(f(key), "invalid value " + Num(v) + " (must be > 0)");
  };
  positive(p.target_concurrency, "targetConcurrency");
  // 0 turns token-rate sizing off; NaN fails the comparison and is refused too.
  if (!(p.target_tokens_per_second >= 0)) {
    Fail(f("targetTokensPerSecond"),
         "invalid value " + Num(p.target_tokens_per_second) + " (must be >= 0; 0 = off)");
  }
  positive(p.stable_window_s, "stableWindow");
  positive(p.panic_window_s, "panicWindow");
  positive(p.lag_threshold, "lagThreshold");
  positive(p.lag_window_s, "lagWindow");
  positive(p.idle_window_s, "idleWindow");
  if (p.tolerance < 0 || p.tolerance >= 1)
    Fail(f("tolerance"), "invalid value " + Num(p.tolerance) + " (must be in [0, 1))");
  if (p.panic_threshold < 1)
    Fail(f("panicThreshold"), "invalid value " + Num(p.panic_threshold) + " (must be >= 1)");
  if (p.panic_window_s > p.stable_window_s) {
    Fail(f("panicWindow"),
         "invalid value " + Num(p.panic_window_s) + "s (longer than stableWindow)");
  }
  if (p.scale_down_delay_s < 0)
    Fail(f("scaleDownDelay"), "invalid value " + Num(p.scale_down_delay_s) + " (must be >= 0)");
  if (p.max_scale_up_rate < 1)
    Fail(f("maxScaleUpRate"), "invalid value " + Num(p.max_scale_up_rate) + " (must be >= 1)");
  if (p.max_scale_down_rate < 1)
    Fail(f("maxScaleDownRate"), "invalid value " + Num(p.max_scale_down_rate) + " (must be >= 1)");
  if (p.memory_bytes < 0)
    Fail(f("memory"), "invalid value " + Num(p.memory_bytes) + " (must be >= 0)");
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
  static const std::map<std::string, std::string> kPlurals = {{"Model", "models"},
                                                              {"Server", "servers"},
                                                              {"Deployment", "deployments"},
                                                              {"StatefulSet", "statefulsets"},
                                                              {"ReplicaSet", "replicasets"}};
  auto it = kPlurals.find(kind);
  if (it == kPlurals.end()) {
    Fail(Join(field, "kind"),
         "invalid value \"" + kind + "\" (expected Model, Server, Deployment or StatefulSet)");
  }
  t.plural = it->second;
  if (name.empty()) Fail(Join(field, "name"), "must not be empty");
  if (name_space.empty()) Fail(Join(field, "namespace"), "must not be empty");
  return t;
}

double ParseDuration(const std::string& text, const std::string& field) {
  static const std::map<std::string, double> kUnits = {
      {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
  const double v = WithUnit(text, field, kUnits, "a duration such as 250ms, 1s or 2m");
  if (v < 0) Fail(field, "invalid value \"" + text + "\" (must not be negative)");
  return v;
}

double ParseBytes(const std::string& text, const std::string& field) {
  // Integer arithmetic: CLI11 prints a double result with 6 significant digits.
  static const std::map<std::string, long long> kUnits = {
      {"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30},   {"Ti", 1LL << 40},     {"k", 1000},
      {"K", 1000},       {"M", 1000000},    {"G", 1000000000LL}, {"T", 1000000000000LL}};
  CLI::AsNumberWithUnit transform(kUnits, CLI::AsNumberWithUnit::CASE_SENSITIVE);
  std::string value = text;
  std::string error;
  try {
    error = transform(value);
  } catch (const std::exception& e) {
    error = e.what();
  }
  long long bytes = 0;
  if (!error.empty() || !CLI::detail::lexical_cast(value, bytes)) {
    Fail(field, "invalid value \"" + text + "\" (expected bytes such as 512Mi or 2Gi)");
  }
  if (bytes < 0) Fail(field, "invalid value \"" + text + "\" (must not be negative)");
  return static_cast<double>(bytes);
}

namespace {

// limits: caps on what reporters can make the coordinator hold (each 1..1,000,000).
void ReadLimits(const YAML::Node& n, LimitsConfig& limits) {
  CheckKeys(n, "limits", {"maxModels", "maxPods", "maxModelsPerPod"});
  const std::pair<const char*, size_t*> fields[] = {
      {"maxModels", &limits.max_models},
      {"maxPods", &limits.max_pods},
      {"maxModelsPerPod", &limits.max_models_per_pod}};
  for (const auto& [key, into] : fields) {
    const auto v = n[key];
    if (!v) continue;
    const std::string field = std::string("limits.") + key;
    const int value = Integer(v, field);
    if (value < 1) Fail(field, "invalid value \"" + Scalar(v, field) + "\" (must be >= 1)");
    *into = static_cast<size_t>(value);
  }
}

}  // namespace

Config ParseConfig(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("config: not valid YAML: ") + e.what());
  }
  Config c;
  if (root.IsNull()) return c;
  CheckKeys(root, "",
            {"reportTTL", "decisionInterval", "windows", "defaults", "servers", "models", "seldon",
             "limits"});
  if (auto n = root["reportTTL"])
    c.report_ttl_s = ParseDuration(Scalar(n, "reportTTL"), "reportTTL");
  if (!(c.report_ttl_s > 0))
    Fail("reportTTL", "invalid value " + Num(c.report_ttl_s) + " (must be > 0)");
  if (auto n = root["decisionInterval"]) {
    c.decision_interval_s = ParseDuration(Scalar(n, "decisionInterval"), "decisionInterval");
  }
  if (c.decision_interval_s < 0.01 || c.decision_interval_s > 60) {
    Fail("decisionInterval",
         "invalid value " + Num(c.decision_interval_s) + "s (must be 10ms..60s)");
  }
  if (auto n = root["windows"]) {
    if (!n.IsSequence()) Fail("windows", "expected a list of durations");
    c.windows_s.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string f = "windows[" + std::to_string(i) + "]";
      const double w = ParseDuration(Scalar(n[i], f), f);
      if (!(w > 0) || w > 3600) Fail(f, "invalid value " + Num(w) + "s (must be in (0, 1h])");
      c.windows_s.push_back(w);
    }
  }
  if (auto n = root["defaults"]) {
    CheckKeys(n, "defaults", kPolicyKeys);
    ReadPolicy(n, "defaults", c.defaults);
  }
  ValidatePolicy(c.defaults, "defaults");

  std::set<std::string> seen;
  if (auto list = root["servers"]) {
    if (!list.IsSequence()) Fail("servers", "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string f = "servers[" + std::to_string(i) + "]";
      const YAML::Node s = list[i];
      CheckKeys(s, f,
                {"name", "placement", "minReplicas", "maxReplicas", "capacityMemory", "drainDelay",
                 "target", "actuator"});
      ServerConfig sc;
      sc.name = Name(s, f);
      if (!seen.insert(sc.name).second) Fail(f + ".name", "duplicate server \"" + sc.name + "\"");
      if (auto n = s["placement"]) {
        const std::string p = Scalar(n, f + ".placement");
        if (p == "all")
          sc.policy.placement = Placement::kAll;
        else if (p == "scheduled")
          sc.policy.placement = Placement::kScheduled;
        else if (p == "one-to-one")
          sc.policy.placement = Placement::kOneToOne;
        else
          Fail(f + ".placement",
               "invalid value \"" + p + "\" (expected all, scheduled or one-to-one)");
      }
      if (auto n = s["minReplicas"]) sc.policy.min_replicas = Integer(n, f + ".minReplicas");
      if (auto n = s["maxReplicas"]) sc.policy.max_replicas = Integer(n, f + ".maxReplicas");
      if (auto n = s["capacityMemory"])
        sc.policy.capacity_bytes =
            ParseBytes(Scalar(n, f + ".capacityMemory"), f + ".capacityMemory");
      if (auto n = s["drainDelay"])
        sc.policy.drain_delay_s = ParseDuration(Scalar(n, f + ".drainDelay"), f + ".drainDelay");
      if (sc.policy.max_replicas < 1)
        Fail(f + ".maxReplicas",
             "invalid value " + Num(sc.policy.max_replicas) + " (must be >= 1)");
      if (sc.policy.min_replicas > sc.policy.max_replicas) {
        Fail(f + ".minReplicas", "invalid value " + Num(sc.policy.min_replicas) +
                                     " (greater than maxReplicas " + Num(sc.policy.max_replicas) +
                                     ")");
      }
      sc.target = ReadTarget(s["target"], f + ".target");
      if (auto n = s["actuator"]) sc.actuator = ParseActuatedBy(Scalar(n, f + ".actuator"), f);
      c.servers.push_back(std::move(sc));
    }
  }
  seen.clear();
  if (auto list = root["models"]) {
    if (!list.IsSequence()) Fail("models", "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string f = "models[" + std::to_string(i) + "]";
      const YAML::Node m = list[i];
      std::set<std::string> keys = kPolicyKeys;
      keys.insert({"name", "server", "target", "actuator"});
      CheckKeys(m, f, keys);
      ModelConfig mc;
      mc.name = Name(m, f);
      if (!seen.insert(mc.name).second) Fail(f + ".name", "duplicate model \"" + mc.name + "\"");
      if (auto n = m["server"]) {
        mc.server = Scalar(n, f + ".server");
        if (!c.FindServer(mc.server))
          Fail(f + ".server", "unknown server \"" + mc.server + "\" (not in servers)");
      }
      mc.policy = c.defaults;
      ReadPolicy(m, f, mc.policy);
      ValidatePolicy(mc.policy, f);
      mc.target = ReadTarget(m["target"], f + ".target");
      if (auto n = m["actuator"]) mc.actuator = ParseActuatedBy(Scalar(n, f + ".actuator"), f);
      c.models.push_back(std::move(mc));
    }
  }
  if (auto n = root["seldon"]) {
    CheckKeys(n, "seldon", {"enabled", "namespace"});
    if (auto e = n["enabled"]) {
      const std::string v = Scalar(e, "seldon.enabled");
      if (v == "true")
        c.seldon.enabled = true;
      else if (v == "false")
        c.seldon.enabled = false;
      else
        Fail("seldon.enabled", "invalid value \"" + v + "\" (expected true or false)");
    }
    if (auto ns = n["namespace"]) c.seldon.name_space = Scalar(ns, "seldon.namespace");
    if (c.seldon.name_space.empty()) Fail("seldon.namespace", "must not be empty");
  }
  CheckOneWriterPerTarget(c);
  if (auto n = root["limits"]) ReadLimits(n, c.limits);
  return c;
}

Config LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot read file \"" + path + "\"");
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str());
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
    h = std::max({h, p.stable_window_s, p.panic_window_s, p.lag_window_s});
  };
  take(defaults);
  for (const auto& m : models) take(m.policy);
  for (double w : windows_s) h = std::max(h, w);
  return std::min(h, 3600.0);
}

bool SamePolicy(const ModelPolicyConfig& a, const ModelPolicyConfig& b) {
  return a.kind == b.kind && a.min_replicas == b.min_replicas && a.max_replicas == b.max_replicas &&
         a.target_concurrency == b.target_concurrency &&
         a.target_tokens_per_second == b.target_tokens_per_second && a.tolerance == b.tolerance &&
         a.stable_window_s == b.stable_window_s && a.panic_window_s == b.panic_window_s &&
         a.panic_threshold == b.panic_threshold && a.scale_down_delay_s == b.scale_down_delay_s &&
         a.max_scale_up_rate == b.max_scale_up_rate &&
         a.max_scale_down_rate == b.max_scale_down_rate && a.lag_threshold == b.lag_threshold &&
         a.lag_window_s == b.lag_window_s && a.idle_window_s == b.idle_window_s &&
         a.flap_window_s == b.flap_window_s && a.backlog_drain_s == b.backlog_drain_s &&
         a.startup_delay_s == b.startup_delay_s &&
         a.max_scale_down_delay_s == b.max_scale_down_delay_s &&
         a.lag_proportional == b.lag_proportional && a.memory_bytes == b.memory_bytes;
}

bool SameServerPolicy(const ServerPolicyConfig& a, const ServerPolicyConfig& b) {
  return a.placement == b.placement && a.min_replicas == b.min_replicas &&
         a.max_replicas == b.max_replicas && a.capacity_bytes == b.capacity_bytes &&
         a.drain_delay_s == b.drain_delay_s;
}

const char* PolicyKindName(PolicyKind kind) {
  return kind == PolicyKind::kLagThreshold ? "lag-threshold" : "target-tracking";
}

const char* PlacementName(Placement placement) {
  switch (placement) {
    case Placement::kScheduled:
      return "scheduled";
    case Placement::kOneToOne:
      return "one-to-one";
    default:
      return "all";
  }
}

}  // namespace lagscale::coordinator
