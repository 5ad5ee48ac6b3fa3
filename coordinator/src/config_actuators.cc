// The `actuator` key of models and servers, and the one-writer-per-target rule.
#include "config_actuators.h"

#include <optional>
#include <utility>
#include <vector>

#include "config_values.h"

namespace lagscale::coordinator {
namespace {

const std::vector<std::pair<std::string, ActuatedBy>> kActuators = {
    {"coordinator", ActuatedBy::kCoordinator}, {"keda", ActuatedBy::kKeda}};

struct Claim {
  std::string field;  // "models[2]", "servers[0]"
  std::string name;
  ActuatedBy by;
  std::optional<ScaleTarget> target;
};

bool SameObject(const ScaleTarget& a, const ScaleTarget& b) {
  return a.group == b.group && a.kind == b.kind && a.name == b.name && a.name_space == b.name_space;
}

std::string Describe(const ScaleTarget& t) {
  return t.kind + " " + t.name_space + "/" + t.name + " (" + t.api_version + ")";
}

// The object each configured target writes: its explicit target, else (Seldon mode) its
// Model/Server resource.
std::vector<Claim> Claims(const Config& c) {
  std::vector<Claim> claims;
  auto seldon = [&](const char* kind, const std::string& name) -> std::optional<ScaleTarget> {
    if (!c.seldon.enabled) return std::nullopt;
    return MakeScaleTarget("mlops.seldon.io/v1alpha1", kind, name, c.seldon.name_space);
  };
  for (size_t i = 0; i < c.servers.size(); ++i) {
    const ServerConfig& s = c.servers[i];
    claims.push_back({"servers[" + std::to_string(i) + "]", s.name, s.actuator,
                      s.target ? s.target : seldon("Server", s.name)});
  }
  for (size_t i = 0; i < c.models.size(); ++i) {
    const ModelConfig& m = c.models[i];
    claims.push_back({"models[" + std::to_string(i) + "]", m.name, m.actuator,
                      m.target ? m.target : seldon("Model", m.name)});
  }
  return claims;
}

}  // namespace

const char* ActuatedByName(ActuatedBy by) { return config_yaml::NameOf(by, kActuators); }

ActuatedBy ParseActuatedBy(const std::string& text, const std::string& prefix) {
  return config_yaml::Named(text, prefix + ".actuator", kActuators);
}

void CheckOneWriterPerTarget(const Config& config) {
  const std::vector<Claim> claims = Claims(config);
  for (const Claim& keda : claims) {
    if (keda.by != ActuatedBy::kKeda || !keda.target) continue;
    for (const Claim& other : claims) {
      if (other.by != ActuatedBy::kCoordinator || !other.target) continue;
      if (!SameObject(*keda.target, *other.target)) continue;
      config_yaml::Fail(keda.field + ".actuator",
                        "\"" + keda.name + "\" is scaled by KEDA, but its target " +
                            Describe(*keda.target) + " is also written by the coordinator for " +
                            other.field + " \"" + other.name +
                            "\"; one writer per target: mark both `actuator: keda` or neither");
    }
  }
}

ActuatedBy Config::ModelActuator(const std::string& name) const {
  const ModelConfig* m = FindModel(name);
  return m ? m->actuator : ActuatedBy::kCoordinator;
}

ActuatedBy Config::ServerActuator(const std::string& name) const {
  const ServerConfig* s = FindServer(name);
  return s ? s->actuator : ActuatedBy::kCoordinator;
}

}  // namespace lagscale::coordinator
