#pragma once

// The policy settings of models (`defaults:` and each entry of `models:`) and of servers (each
// entry of `servers:`). Each setting is declared once, in config_policy.cc's field tables, which
// drive the known-key check, reading and validation.
// Thread safety: pure functions.

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>

#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator::config_yaml {

// The YAML keys of the model policy settings.
const std::set<std::string>& ModelPolicyKeys();

// Overlays the model policy settings present in `node` onto `policy`. `prefix` names the node in
// errors ("defaults", "models[2]"). Throws ConfigError on a malformed value.
void ReadModelPolicy(const YAML::Node& node, const std::string& prefix, ModelPolicyConfig& policy);

// Throws ConfigError naming the first setting (in table order) whose value is out of range.
void ValidateModelPolicy(const ModelPolicyConfig& policy, const std::string& prefix);

// The YAML keys of the server policy settings (a server entry's other keys are its own).
const std::set<std::string>& ServerPolicyKeys();

// Reads the server policy settings present in `node` over the defaults, then validates them.
ServerPolicyConfig ReadServerPolicy(const YAML::Node& node, const std::string& prefix);

}  // namespace lagscale::coordinator::config_yaml
