#include "lagscale/coordinator/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace lagscale::coordinator {
namespace {

std::string Error(const std::string& yaml) {
  try {
    ParseConfig(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigTest, ExampleFileParsesWithEveryField) {
  const Config c =
      LoadConfigFile(std::string(LAGSCALE_SOURCE_DIR) + "/coordinator/config.example.yaml");
  EXPECT_DOUBLE_EQ(c.report_ttl_s, 10);
  EXPECT_DOUBLE_EQ(c.decision_interval_s, 0.25);
  EXPECT_EQ(c.windows_s, (std::vector<double>{10, 60}));
  EXPECT_EQ(c.defaults.kind, PolicyKind::kTargetTracking);
  EXPECT_DOUBLE_EQ(c.defaults.lag.idle_window_s, 600);
  ASSERT_EQ(c.servers.size(), 1u);
  EXPECT_EQ(c.servers[0].policy.placement, Placement::kScheduled);
  EXPECT_DOUBLE_EQ(c.servers[0].policy.capacity_bytes, 16.0 * 1024 * 1024 * 1024);
  ASSERT_TRUE(c.servers[0].target);
  EXPECT_EQ(c.servers[0].target->ScalePath(),
            "/apis/mlops.seldon.io/v1alpha1/namespaces/seldon-mesh/servers/mlserver/scale");
  ASSERT_EQ(c.models.size(), 1u);
  const ModelConfig& iris = c.models[0];
  EXPECT_EQ(iris.server, "mlserver");
  EXPECT_EQ(iris.policy.max_replicas, 5);
  EXPECT_DOUBLE_EQ(iris.policy.tracking.target_concurrency, 2);
  EXPECT_DOUBLE_EQ(iris.policy.memory_bytes, 2.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(iris.policy.tracking.stable_window_s, 30);  // inherited from defaults
  EXPECT_FALSE(c.seldon.enabled);
}

TEST(ConfigTest, DurationsAndBytesTakeUnits) {
  EXPECT_DOUBLE_EQ(ParseDuration("250ms", "f"), 0.25);
  EXPECT_DOUBLE_EQ(ParseDuration("2m", "f"), 120);
  EXPECT_DOUBLE_EQ(ParseDuration("3", "f"), 3);
  EXPECT_DOUBLE_EQ(ParseBytes("512Mi", "f"), 512.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(ParseBytes("1G", "f"), 1e9);
  EXPECT_THROW(ParseDuration("soon", "f"), ConfigError);
  EXPECT_THROW(ParseDuration("5 fortnights", "f"), ConfigError);
  EXPECT_THROW(ParseBytes("2Gx", "f"), ConfigError);
}

TEST(ConfigTest, UnlistedModelsGetTheDefaults) {
  const Config c = ParseConfig("defaults: {targetConcurrency: 4, policy: lag-threshold}\n");
  EXPECT_EQ(c.FindModel("anything"), nullptr);
  EXPECT_DOUBLE_EQ(c.defaults.tracking.target_concurrency, 4);
  EXPECT_EQ(c.defaults.kind, PolicyKind::kLagThreshold);
}

TEST(ConfigTest, TargetTokensPerSecondIsReadPerModelAndDefaultsToOff) {
  const Config c = ParseConfig(
      "defaults: {targetTokensPerSecond: 500}\n"
      "models: [{name: llm, targetTokensPerSecond: 1200}, {name: iris}]\n");
  EXPECT_DOUBLE_EQ(c.defaults.tracking.target_tokens_per_second, 500);
  EXPECT_DOUBLE_EQ(c.FindModel("llm")->policy.tracking.target_tokens_per_second, 1200);
  EXPECT_DOUBLE_EQ(c.FindModel("iris")->policy.tracking.target_tokens_per_second,
                   500);  // inherited
  EXPECT_DOUBLE_EQ(ParseConfig("{}\n").defaults.tracking.target_tokens_per_second, 0);
  EXPECT_EQ(Error("defaults: {targetTokensPerSecond: -1}\n"),
            "config: defaults.targetTokensPerSecond: invalid value -1 (must be >= 0; 0 = off)");
  EXPECT_EQ(ParseConfig("defaults: {targetTokensPerSecond: 0}\n")
                .defaults.tracking.target_tokens_per_second,
            0);
}

TEST(ConfigTest, StartupDelayIsADurationAndDefaultsToUnknown) {
  EXPECT_DOUBLE_EQ(ParseConfig("{}\n").defaults.tracking.startup_delay_s, 0);
  const Config c = ParseConfig("models: [{name: llm, startupDelay: 2m}]\n");
  EXPECT_DOUBLE_EQ(c.FindModel("llm")->policy.tracking.startup_delay_s, 120);
  EXPECT_NE(Error("defaults: {startupDelay: -8s}\n").find("defaults.startupDelay"),
            std::string::npos);
}

TEST(ConfigTest, PoissonHeadroomDefaultsOnAndZeroTurnsItOff) {
  EXPECT_DOUBLE_EQ(ParseConfig("{}\n").defaults.tracking.poisson_headroom, 1.75);
  const Config c =
      ParseConfig("defaults: {poissonHeadroom: 0}\nmodels: [{name: m, poissonHeadroom: 3}]\n");
  EXPECT_DOUBLE_EQ(c.defaults.tracking.poisson_headroom, 0);
  EXPECT_DOUBLE_EQ(c.FindModel("m")->policy.tracking.poisson_headroom, 3);
  EXPECT_NE(Error("defaults: {poissonHeadroom: -1}\n").find("defaults.poissonHeadroom"),
            std::string::npos);
}

// Found by fuzz_coordinator_config: a key that is itself a mapping escaped as yaml-cpp's "bad
// conversion" instead of a ConfigError naming the field.
TEST(ConfigTest, KeyThatIsNotANameIsAConfigError) {
  EXPECT_EQ(Error("servers:\n  - {name: s, {a: 1}: 2}\n"),
            "config: servers[0]: keys must be names");
  EXPECT_EQ(Error("{[a, b]: 1}\n"), "config: (top level): keys must be names");
}

TEST(ConfigTest, ErrorsNameTheFieldAndTheValue) {
  EXPECT_EQ(
      Error("reportTTL: soon\n"),
      "config: reportTTL: invalid value \"soon\" (expected seconds or a duration with a unit: 10, "
      "250ms, 2m)");
  EXPECT_EQ(Error("reportTTL: 2h\n"),
            "config: reportTTL: invalid value 7200s (must be in (0, 1h])");
  EXPECT_EQ(Error("defaults: {maxReplicas: lots}\n"),
            "config: defaults.maxReplicas: invalid value \"lots\" (expected a whole number >= 0)");
  EXPECT_EQ(Error("models: [{name: a, minReplicas: 5, maxReplicas: 2}]\n"),
            "config: models[0].minReplicas: invalid value 5 (greater than maxReplicas 2)");
  EXPECT_EQ(Error("models: [{name: a, policy: magic}]\n"),
            "config: models[0].policy: invalid value \"magic\" (expected target-tracking or "
            "lag-threshold)");
  EXPECT_EQ(Error("models: [{name: a, server: ghost}]\n"),
            "config: models[0].server: unknown server \"ghost\" (not in servers)");
  EXPECT_EQ(Error("servers: [{name: s, placement: everywhere}]\n"),
            "config: servers[0].placement: invalid value \"everywhere\" (expected all, scheduled "
            "or one-to-one)");
  EXPECT_EQ(Error("models: [{name: a, target: {apiVersion: v1, kind: Model, name: a}}]\n"),
            "config: models[0].target.apiVersion: invalid value \"v1\" (expected group/version, "
            "e.g. apps/v1)");
  EXPECT_EQ(Error("models: [{name: a, target: {apiVersion: apps/v1, kind: Pod, name: a}}]\n"),
            "config: models[0].target.kind: invalid value \"Pod\" (expected Model, Server, "
            "Deployment, StatefulSet or ReplicaSet)");
  EXPECT_EQ(Error("defaults: {tolerance: 1.5}\n"),
            "config: defaults.tolerance: invalid value 1.5 (must be in [0, 1))");
  EXPECT_EQ(Error("defaults: {targetConcurrency: 0}\n"),
            "config: defaults.targetConcurrency: invalid value 0 (must be > 0)");
  EXPECT_EQ(Error("models: [{name: a}, {name: a}]\n"),
            "config: models[1].name: duplicate model \"a\"");
  EXPECT_EQ(Error("seldon: {enabled: maybe}\n"),
            "config: seldon.enabled: invalid value \"maybe\" (expected true or false)");
  EXPECT_EQ(Error("decisionInterval: 1ms\n"),
            "config: decisionInterval: invalid value 0.001s (must be 10ms..60s)");
}

TEST(ConfigTest, UnknownKeysAreRejected) {
  EXPECT_EQ(Error("reportTtl: 5s\n"), "config: reportTtl: unknown field");
  EXPECT_EQ(Error("models: [{name: a, maxReplica: 3}]\n"),
            "config: models[0].maxReplica: unknown field");
  EXPECT_NE(Error("models: [unclosed\n").find("not valid YAML"), std::string::npos);
}

TEST(ConfigTest, MissingFileIsNamed) {
  try {
    LoadConfigFile("/nonexistent/lagscale.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/lagscale.yaml"), std::string::npos);
  }
}

TEST(ConfigTest, TargetsDeriveTheirPaths) {
  const ScaleTarget d = MakeScaleTarget("apps/v1", "StatefulSet", "db", "prod");
  EXPECT_EQ(d.ScalePath(), "/apis/apps/v1/namespaces/prod/statefulsets/db/scale");
  const Config c = ParseConfig(
      "models: [{name: a, target: {apiVersion: apps/v1, kind: Deployment, name: web}}]\n");
  EXPECT_EQ(c.models[0].target->name_space, "default");
}

// Found by fuzz_coordinator_config: a stableWindow of 3.7e19 s overflowed the aggregator's
// nanosecond arithmetic. Windows read the coordinator's history, which keeps at most an hour.
TEST(ConfigTest, WindowsFitInTheHistory) {
  EXPECT_EQ(Error("defaults: {stableWindow: 37777777777777777777}\n"),
            "config: defaults.stableWindow: invalid value 3.77778e+19s (must be in (0, 30m]: two "
            "must fit in 1h)");
  EXPECT_EQ(Error("models: [{name: a, stableWindow: 31m}]\n"),
            "config: models[0].stableWindow: invalid value 1860s (must be in (0, 30m]: two must "
            "fit in 1h)");
  EXPECT_EQ(Error("defaults: {policy: lag-threshold, lagWindow: 2h}\n"),
            "config: defaults.lagWindow: invalid value 7200s (must be in (0, 1h])");
  const Config c = ParseConfig("models: [{name: a, stableWindow: 30m, lagWindow: 1h}]\n");
  EXPECT_DOUBLE_EQ(c.HistorySeconds(), 3600);
}

// Target tracking reads two stable windows (a slow fall compares the last with both).
TEST(ConfigTest, HistoryCoversTheLongestWindow) {
  const Config c = ParseConfig("windows: [5s]\nmodels: [{name: a, stableWindow: 90s}]\n");
  EXPECT_DOUBLE_EQ(c.HistorySeconds(), 180);
  EXPECT_DOUBLE_EQ(ParseConfig("windows: [300s]\nmodels: [{name: a}]\n").HistorySeconds(), 300);
}

TEST(ConfigTest, SamePolicyDetectsChanges) {
  ModelPolicyConfig a, b;
  EXPECT_TRUE(a == b);
  b.tracking.stable_window_s = 31;
  EXPECT_FALSE(a == b);
  ModelPolicyConfig tokens;
  tokens.tracking.target_tokens_per_second = 800;
  EXPECT_FALSE(a == tokens);
  ModelPolicyConfig startup;
  startup.tracking.startup_delay_s = 8;
  EXPECT_FALSE(a == startup);
}

TEST(ConfigTest, LimitsAreReadWithDefaultsAndValidated) {
  const Config defaults = ParseConfig("reportTTL: 5s\n");
  EXPECT_EQ(defaults.limits.max_models, 5000u);
  EXPECT_EQ(defaults.limits.max_pods, 500u);
  EXPECT_EQ(defaults.limits.max_models_per_pod, 1000u);
  const Config c = ParseConfig("limits: {maxModels: 7, maxPods: 3}\n");
  EXPECT_EQ(c.limits.max_models, 7u);
  EXPECT_EQ(c.limits.max_pods, 3u);
  EXPECT_EQ(c.limits.max_models_per_pod, 1000u);
  EXPECT_THROW(ParseConfig("limits: {maxModels: 0}\n"), ConfigError);
  EXPECT_THROW(ParseConfig("limits: {maxModels: many}\n"), ConfigError);
  EXPECT_THROW(ParseConfig("limits: {maxThings: 3}\n"), ConfigError);
}

}  // namespace
}  // namespace lagscale::coordinator
