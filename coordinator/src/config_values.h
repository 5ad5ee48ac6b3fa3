#pragma once

// Reading single values of the coordinator's YAML config. Every reader names the setting
// (`field`, e.g. "models[2].stableWindow") and the offending value in the ConfigError it throws.
// Thread safety: pure functions.

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lagscale/coordinator/config.h"

namespace lagscale::coordinator::config_yaml {

// Throws ConfigError "config: <field>: <what>".
[[noreturn]] void Fail(const std::string& field, const std::string& what);

// "prefix.key", or just "key" at the top level (empty prefix).
std::string Join(const std::string& prefix, const std::string& key);

// A number as the error messages print it (std::ostream's default format: 0.001, 1e+06).
std::string Num(double value);

// "a", "a or b", "a, b or c": the names a setting accepts, for its error message.
std::string OneOf(const std::vector<std::string>& names);

// Throws unless `node` is a mapping whose keys are names listed in `allowed`.
void CheckKeys(const YAML::Node& node, const std::string& field,
               const std::set<std::string>& allowed);

std::string Scalar(const YAML::Node& node, const std::string& field);
double Number(const YAML::Node& node, const std::string& field);    // finite
int Integer(const YAML::Node& node, const std::string& field);      // 0..1,000,000
bool Boolean(const YAML::Node& node, const std::string& field);     // true or false
double Duration(const YAML::Node& node, const std::string& field);  // ParseDuration, seconds
double Bytes(const YAML::Node& node, const std::string& field);     // ParseBytes

// The value `names` pairs with `text`; the error lists every accepted name.
template <typename T>
T Named(const std::string& text, const std::string& field,
        const std::vector<std::pair<std::string, T>>& names) {
  std::vector<std::string> accepted;
  for (const auto& [name, value] : names) {
    if (name == text) return value;
    accepted.push_back(name);
  }
  Fail(field, "invalid value \"" + text + "\" (expected " + OneOf(accepted) + ")");
}

template <typename T>
T Named(const YAML::Node& node, const std::string& field,
        const std::vector<std::pair<std::string, T>>& names) {
  return Named(Scalar(node, field), field, names);
}

// The name `names` gives `value` (the first entry's when none does).
template <typename T>
const char* NameOf(T value, const std::vector<std::pair<std::string, T>>& names) {
  for (const auto& [name, v] : names) {
    if (v == value) return name.c_str();
  }
  return names.front().first.c_str();
}

}  // namespace lagscale::coordinator::config_yaml
