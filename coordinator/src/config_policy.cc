// The policy settings, one table row each: YAML key, where the value lives, how its text is read
// and the rule it must satisfy.
#include "config_policy.h"

#include <optional>
#include <variant>
#include <vector>

#include "config_values.h"
#include "lagscale/coordinator/config.h"

namespace lagscale::coordinator::config_yaml {
namespace {

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
// Spelled out for clang 14, which does not deduce an aggregate's template arguments by itself.
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

// How a number's text is read.
enum class Unit { kPlain, kSeconds, kBytes };

double ReadNumber(Unit unit, const YAML::Node& node, const std::string& field) {
  switch (unit) {
    case Unit::kSeconds:
      return Duration(node, field);
    case Unit::kBytes:
      return Bytes(node, field);
    case Unit::kPlain:
      break;
  }
  return Number(node, field);
}

const std::vector<std::pair<std::string, PolicyKind>> kPolicyKinds = {
    {"target-tracking", PolicyKind::kTargetTracking}, {"lag-threshold", PolicyKind::kLagThreshold}};

const std::vector<std::pair<std::string, Placement>> kPlacements = {
    {"all", Placement::kAll},
    {"scheduled", Placement::kScheduled},
    {"one-to-one", Placement::kOneToOne}};

// ---- Rules: why a value is refused ("" when it is fine), printed after "invalid value ".

template <typename Config>
using Rule = std::string (*)(double value, const Config& config);

template <typename Config>
std::string Positive(double v, const Config&) {
  return v > 0 ? "" : Num(v) + " (must be > 0)";
}
template <typename Config>
std::string AtLeastOne(double v, const Config&) {
  return v >= 1 ? "" : Num(v) + " (must be >= 1)";
}
template <typename Config>
std::string NotNegative(double v, const Config&) {
  return v >= 0 ? "" : Num(v) + " (must be >= 0)";
}
// REQUIRES: maxReplicas is validated before it.
template <typename Config>
std::string NotAboveMax(double v, const Config& c) {
  return v <= c.max_replicas ? ""
                             : Num(v) + " (greater than maxReplicas " + Num(c.max_replicas) + ")";
}
// 0 turns token-rate sizing off; NaN fails the comparison and is refused too.
std::string TokensOrOff(double v, const ModelPolicyConfig&) {
  return v >= 0 ? "" : Num(v) + " (must be >= 0; 0 = off)";
}
std::string Fraction(double v, const ModelPolicyConfig&) {
  return v >= 0 && v < 1 ? "" : Num(v) + " (must be in [0, 1))";
}
// The coordinator keeps at most an hour of history (Config::HistorySeconds()): a longer window
// would read a truncated one as the whole, and overflows nanosecond arithmetic when huge.
std::string HistoryWindow(double v, const ModelPolicyConfig&) {
  return v > 0 && v <= kMaxHistorySeconds ? "" : Num(v) + "s (must be in (0, 1h])";
}
// A slow fall compares the last stable window with the two ending now: both must be kept.
std::string StableWindow(double v, const ModelPolicyConfig&) {
  return v > 0 && v <= kMaxHistorySeconds / 2
             ? ""
             : Num(v) + "s (must be in (0, 30m]: two must fit in 1h)";
}
std::string PanicWindow(double v, const ModelPolicyConfig& c) {
  if (!(v > 0)) return Num(v) + " (must be > 0)";
  return v > c.tracking.stable_window_s ? Num(v) + "s (longer than stableWindow)" : "";
}

// ---- Model policy settings.

// Where a model policy setting lives: in the config itself or in one policy's parameters.
using ModelSlot = std::variant<PolicyKind ModelPolicyConfig::*, int ModelPolicyConfig::*,
                               double ModelPolicyConfig::*, double TargetTrackingParams::*,
                               double LagThresholdParams::*, bool LagThresholdParams::*>;

struct ModelField {
  const char* key;
  ModelSlot slot;
  Unit unit = Unit::kPlain;                // for double settings
  Rule<ModelPolicyConfig> rule = nullptr;  // nullptr: any value the reader accepts
};

using M = ModelPolicyConfig;
using TT = TargetTrackingParams;
using LT = LagThresholdParams;

// In validation order: the first setting out of range is the one reported.
const ModelField kModelFields[] = {
    {"policy", &M::kind},
    {"maxReplicas", &M::max_replicas, Unit::kPlain, AtLeastOne<M>},
    {"minReplicas", &M::min_replicas, Unit::kPlain, NotAboveMax<M>},
    {"targetConcurrency", &TT::target_concurrency, Unit::kPlain, Positive<M>},
    {"targetTokensPerSecond", &TT::target_tokens_per_second, Unit::kPlain, TokensOrOff},
    {"stableWindow", &TT::stable_window_s, Unit::kSeconds, StableWindow},
    {"panicWindow", &TT::panic_window_s, Unit::kSeconds, PanicWindow},
    {"lagThreshold", &LT::lag_threshold, Unit::kPlain, Positive<M>},
    {"lagWindow", &LT::lag_window_s, Unit::kSeconds, HistoryWindow},
    {"idleWindow", &LT::idle_window_s, Unit::kSeconds, Positive<M>},
    {"tolerance", &TT::tolerance, Unit::kPlain, Fraction},
    {"panicThreshold", &TT::panic_threshold, Unit::kPlain, AtLeastOne<M>},
    {"scaleDownDelay", &TT::scale_down_delay_s, Unit::kSeconds, NotNegative<M>},
    {"maxScaleUpRate", &M::max_scale_up_rate, Unit::kPlain, AtLeastOne<M>},
    {"maxScaleDownRate", &TT::max_scale_down_rate, Unit::kPlain, AtLeastOne<M>},
    {"memory", &M::memory_bytes, Unit::kBytes, NotNegative<M>},
    {"flapWindow", &TT::flap_window_s, Unit::kSeconds},
    {"maxScaleDownDelay", &TT::max_scale_down_delay_s, Unit::kSeconds},
    {"backlogDrain", &TT::backlog_drain_s, Unit::kSeconds},
    {"startupDelay", &TT::startup_delay_s, Unit::kSeconds},
    {"poissonHeadroom", &TT::poisson_headroom, Unit::kPlain, NotNegative<M>},
    {"lagProportional", &LT::lag_proportional},
};

void Read(const ModelField& f, const YAML::Node& node, const std::string& field,
          ModelPolicyConfig& p) {
  std::visit(Overloaded{
                 [&](PolicyKind M::*m) { p.*m = Named(node, field, kPolicyKinds); },
                 [&](int M::*m) { p.*m = Integer(node, field); },
                 [&](double M::*m) { p.*m = ReadNumber(f.unit, node, field); },
                 [&](double TT::*m) { p.tracking.*m = ReadNumber(f.unit, node, field); },
                 [&](double LT::*m) { p.lag.*m = ReadNumber(f.unit, node, field); },
                 [&](bool LT::*m) { p.lag.*m = Boolean(node, field); },
             },
             f.slot);
}

// The setting's value as a number, for its rule; nullopt for a name or a boolean.
std::optional<double> NumberAt(const ModelField& f, const ModelPolicyConfig& p) {
  return std::visit(Overloaded{
                        [&](PolicyKind M::*) -> std::optional<double> { return std::nullopt; },
                        [&](bool LT::*) -> std::optional<double> { return std::nullopt; },
                        [&](int M::*m) -> std::optional<double> { return p.*m; },
                        [&](double M::*m) -> std::optional<double> { return p.*m; },
                        [&](double TT::*m) -> std::optional<double> { return p.tracking.*m; },
                        [&](double LT::*m) -> std::optional<double> { return p.lag.*m; },
                    },
                    f.slot);
}

// ---- Server policy settings.

struct ServerField {
  const char* key;
  std::variant<Placement ServerPolicyConfig::*, int ServerPolicyConfig::*,
               double ServerPolicyConfig::*>
      slot;
  Unit unit = Unit::kPlain;
  Rule<ServerPolicyConfig> rule = nullptr;
};

using S = ServerPolicyConfig;

// In validation order, as for models.
const ServerField kServerFields[] = {
    {"placement", &S::placement},
    {"maxReplicas", &S::max_replicas, Unit::kPlain, AtLeastOne<S>},
    {"minReplicas", &S::min_replicas, Unit::kPlain, NotAboveMax<S>},
    {"capacityMemory", &S::capacity_bytes, Unit::kBytes},
    {"drainDelay", &S::drain_delay_s, Unit::kSeconds},
};

void Read(const ServerField& f, const YAML::Node& node, const std::string& field,
          ServerPolicyConfig& p) {
  std::visit(Overloaded{
                 [&](Placement S::*m) { p.*m = Named(node, field, kPlacements); },
                 [&](int S::*m) { p.*m = Integer(node, field); },
                 [&](double S::*m) { p.*m = ReadNumber(f.unit, node, field); },
             },
             f.slot);
}

std::optional<double> NumberAt(const ServerField& f, const ServerPolicyConfig& p) {
  return std::visit(Overloaded{
                        [&](Placement S::*) -> std::optional<double> { return std::nullopt; },
                        [&](int S::*m) -> std::optional<double> { return p.*m; },
                        [&](double S::*m) -> std::optional<double> { return p.*m; },
                    },
                    f.slot);
}

// ---- Shared by both tables.

template <typename Field>
std::set<std::string> KeysOf(const Field& fields) {
  std::set<std::string> keys;
  for (const auto& f : fields) keys.insert(f.key);
  return keys;
}

template <typename Field, typename Config>
void ReadPresent(const Field& fields, const YAML::Node& node, const std::string& prefix,
                 Config& config) {
  for (const auto& f : fields) {
    if (auto n = node[f.key]) Read(f, n, Join(prefix, f.key), config);
  }
}

template <typename Field, typename Config>
void Check(const Field& f, const Config& config, const std::string& prefix) {
  if (f.rule == nullptr) return;
  const std::optional<double> value = NumberAt(f, config);
  if (!value) return;
  const std::string why = f.rule(*value, config);
  if (!why.empty()) Fail(Join(prefix, f.key), "invalid value " + why);
}

}  // namespace

const std::set<std::string>& ModelPolicyKeys() {
  static const std::set<std::string> keys = KeysOf(kModelFields);
  return keys;
}

void ReadModelPolicy(const YAML::Node& node, const std::string& prefix, ModelPolicyConfig& policy) {
  ReadPresent(kModelFields, node, prefix, policy);
}

void ValidateModelPolicy(const ModelPolicyConfig& policy, const std::string& prefix) {
  for (const ModelField& f : kModelFields) Check(f, policy, prefix);
}

const std::set<std::string>& ServerPolicyKeys() {
  static const std::set<std::string> keys = KeysOf(kServerFields);
  return keys;
}

ServerPolicyConfig ReadServerPolicy(const YAML::Node& node, const std::string& prefix) {
  ServerPolicyConfig policy;
  ReadPresent(kServerFields, node, prefix, policy);
  for (const ServerField& f : kServerFields) Check(f, policy, prefix);
  return policy;
}

}  // namespace lagscale::coordinator::config_yaml

namespace lagscale::coordinator {

const char* PolicyKindName(PolicyKind kind) {
  return config_yaml::NameOf(kind, config_yaml::kPolicyKinds);
}

const char* PlacementName(Placement placement) {
  return config_yaml::NameOf(placement, config_yaml::kPlacements);
}

}  // namespace lagscale::coordinator
