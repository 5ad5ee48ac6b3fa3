#pragma once

// Config: the coordinator's targets and policies, parsed from the YAML format of
// coordinator/config.example.yaml (camelCase keys). Parsing validates every field and throws
// ConfigError with a message naming the field and the offending value. Parsing lives in
// config.cc (structure), config_policy.cc (the policy settings' table), config_values.cc (single
// values) and config_actuators.cc (the `actuator` key).
// Thread safety: a parsed Config is an immutable value; share it as `shared_ptr<const Config>`.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A Kubernetes object with a scale subresource:
// /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}/scale.
struct ScaleTarget {
  std::string api_version;  // "mlops.seldon.io/v1alpha1", "apps/v1"
  std::string kind;         // "Model", "Server", "Deployment", "StatefulSet"
  std::string name;
  std::string name_space;
  std::string group;    // derived from api_version
  std::string version;  // derived from api_version
  std::string plural;   // derived from kind
  // The scale subresource path, e.g. /apis/apps/v1/namespaces/default/deployments/web/scale.
  std::string ScalePath() const;
  // The object itself (for reading spec.minReplicas/maxReplicas in Seldon mode).
  std::string ObjectPath() const;
};

// Builds a target, deriving group, version and plural. Throws ConfigError naming `field`.
ScaleTarget MakeScaleTarget(const std::string& api_version, const std::string& kind,
                            const std::string& name, const std::string& name_space,
                            const std::string& field = "target");

// Who writes a target's replica count: the coordinator's own actuator, or KEDA (which reads the
// coordinator's external scaler; the coordinator then never writes that target). Parsing and the
// one-writer check live in config_actuators.cc.
enum class ActuatedBy { kCoordinator, kKeda };
const char* ActuatedByName(ActuatedBy by);

struct ServerConfig {
  std::string name;
  ActuatedBy actuator = ActuatedBy::kCoordinator;
  ServerPolicyConfig policy;
  std::optional<ScaleTarget> target;
};

struct ModelConfig {
  std::string name;
  ActuatedBy actuator = ActuatedBy::kCoordinator;
  std::string server;  // empty: whatever server the reporting pods name
  ModelPolicyConfig policy;
  std::optional<ScaleTarget> target;
};

struct SeldonConfig {
  bool enabled = false;
  std::string name_space = "seldon-mesh";
};

// Caps on what untrusted reporters can make the coordinator hold in memory (docs/coordinator.md
// gives the memory each costs). The defaults fit the chart's 256Mi limit with room to spare.
struct LimitsConfig {
  size_t max_models = 5000;
  size_t max_pods = 500;
  size_t max_models_per_pod = 1000;
};

// The most history the aggregator keeps, and so the longest window or TTL a config may ask for.
inline constexpr double kMaxHistorySeconds = 3600;

struct Config {
  double report_ttl_s = 10;
  double decision_interval_s = 0.25;
  std::vector<double> windows_s = {10, 60};
  ModelPolicyConfig defaults;
  std::vector<ServerConfig> servers;
  std::vector<ModelConfig> models;
  SeldonConfig seldon;
  LimitsConfig limits;

  // nullptr when not listed.
  const ModelConfig* FindModel(const std::string& name) const;
  const ServerConfig* FindServer(const std::string& name) const;
  // Who actuates a model or server (kCoordinator when not listed).
  ActuatedBy ModelActuator(const std::string& name) const;
  ActuatedBy ServerActuator(const std::string& name) const;
  // The longest window any policy or /status reads: how much history the aggregator keeps.
  double HistorySeconds() const;
};

// Parses YAML text. REQUIRES: nothing; throws ConfigError on any invalid or unknown field.
Config ParseConfig(const std::string& yaml_text);
// Reads and parses a file; throws ConfigError (also when the file cannot be read).
Config LoadConfigFile(const std::string& path);

// Parses "250ms", "1s", "2m", "1h" (a bare number means seconds). Throws ConfigError naming field.
double ParseDuration(const std::string& text, const std::string& field);
// Parses "2Gi", "512Mi", "1000", "1G". Throws ConfigError naming field.
double ParseBytes(const std::string& text, const std::string& field);

// The names the YAML uses: "target-tracking", "lag-threshold"; "all", "scheduled", "one-to-one".
const char* PolicyKindName(PolicyKind kind);
const char* PlacementName(Placement placement);

}  // namespace lagscale::coordinator
