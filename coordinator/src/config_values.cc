// Single values of the coordinator's YAML config: scalars, numbers, booleans, durations, bytes.
#include "config_values.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "lagscale/base/flags.h"

namespace lagscale::coordinator::config_yaml {
namespace {

// The whole of `text` as a number (strtold: decimal, exponent, hex float, inf/nan), as the
// command line's parser reads one; false when anything is left over.
bool ReadReal(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = static_cast<double>(std::strtold(text.c_str(), &end));
  return end == text.c_str() + text.size();
}

// The whole of `text` as an integer (strtoll with base 0: decimal, 0x hex, 0 octal).
bool ReadWhole(const std::string& text, long long& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtoll(text.c_str(), &end, 0);
  return end == text.c_str() + text.size();
}

// Applies a CLI11 unit transform (the same one the command line uses) to `text`: "250ms" with
// {ms: 0.001} becomes "0.25". False when the unit is unknown or the number malformed.
template <typename Factor>
bool WithUnit(std::string& text, const std::map<std::string, Factor>& units) {
  CLI::AsNumberWithUnit transform(units, CLI::AsNumberWithUnit::CASE_SENSITIVE);
  try {
    return transform(text).empty();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void Fail(const std::string& field, const std::string& what) {
  throw ConfigError("config: " + field + ": " + what);
}

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string Num(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string OneOf(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

void CheckKeys(const YAML::Node& node, const std::string& field,
               const std::set<std::string>& allowed) {
  if (!node.IsMap()) Fail(field, "expected a mapping");
  for (const auto& kv : node) {
    // A key that is itself a list or mapping ("{[a]: 1}") has no name to check.
    if (!kv.first.IsScalar()) Fail(field.empty() ? "(top level)" : field, "keys must be names");
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) Fail(Join(field, key), "unknown field");
  }
}

std::string Scalar(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) Fail(field, "expected a single value");
  return node.Scalar();
}

double Number(const YAML::Node& node, const std::string& field) {
  const std::string text = Scalar(node, field);
  double value = 0;
  if (!ReadReal(text, value) || !std::isfinite(value)) {
    Fail(field, "invalid value \"" + text + "\" (expected a number)");
  }
  return value;
}

int Integer(const YAML::Node& node, const std::string& field) {
  const std::string text = Scalar(node, field);
  long long value = 0;
  if (!ReadWhole(text, value) || value < 0 || value > 1'000'000) {
    Fail(field, "invalid value \"" + text + "\" (expected a whole number >= 0)");
  }
  return static_cast<int>(value);
}

bool Boolean(const YAML::Node& node, const std::string& field) {
  const std::string text = Scalar(node, field);
  if (text != "true" && text != "false") {
    Fail(field, "invalid value \"" + text + "\" (expected true or false)");
  }
  return text == "true";
}

double Duration(const YAML::Node& node, const std::string& field) {
  return ParseDuration(Scalar(node, field), field);
}

double Bytes(const YAML::Node& node, const std::string& field) {
  return ParseBytes(Scalar(node, field), field);
}

}  // namespace lagscale::coordinator::config_yaml

namespace lagscale::coordinator {

// The units and bounds every binary's duration flags use (base::ParseDurationFlag), with a bare
// number read as seconds and zero allowed, as config fields have always been.
double ParseDuration(const std::string& text, const std::string& field) {
  const auto seconds = base::ParseDurationFlag(
      text, field, base::DurationSyntax{.bare = base::BareNumber::kSeconds, .allow_zero = true});
  if (!seconds) throw ConfigError("config: " + seconds.error());
  return seconds->count();
}

double ParseBytes(const std::string& text, const std::string& field) {
  // Integer arithmetic: CLI11 prints a double result with 6 significant digits.
  static const std::map<std::string, long long> kUnits = {
      {"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30},   {"Ti", 1LL << 40},     {"k", 1000},
      {"K", 1000},       {"M", 1000000},    {"G", 1000000000LL}, {"T", 1000000000000LL}};
  std::string value = text;
  long long bytes = 0;
  if (!config_yaml::WithUnit(value, kUnits) || !config_yaml::ReadWhole(value, bytes)) {
    config_yaml::Fail(field,
                      "invalid value \"" + text + "\" (expected bytes such as 512Mi or 2Gi)");
  }
  if (bytes < 0) config_yaml::Fail(field, "invalid value \"" + text + "\" (must not be negative)");
  return static_cast<double>(bytes);
}

}  // namespace lagscale::coordinator
