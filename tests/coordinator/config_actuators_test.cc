// The `actuator` key and the one-writer-per-target rule (coordinator/src/config_actuators.cc),
// through the public parser.
#include <gtest/gtest.h>

#include "lagscale/coordinator/config.h"

namespace lagscale::coordinator {
namespace {

std::string ErrorOf(const std::string& yaml) {
  try {
    ParseConfig(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigActuatorsTest, ActuatorKeyMarksModelsAndServersForKeda) {
  const Config c = ParseConfig(R"(servers:
  - name: mlserver
    actuator: keda
models:
  - name: iris
    actuator: keda
  - name: bert
    actuator: coordinator
)");
  EXPECT_EQ(c.ModelActuator("iris"), ActuatedBy::kKeda);
  EXPECT_EQ(c.ModelActuator("bert"), ActuatedBy::kCoordinator);
  EXPECT_EQ(c.ModelActuator("not-listed"), ActuatedBy::kCoordinator);
  EXPECT_EQ(c.ServerActuator("mlserver"), ActuatedBy::kKeda);
  EXPECT_STREQ(ActuatedByName(ActuatedBy::kKeda), "keda");
}

TEST(ConfigActuatorsTest, UnknownActuatorIsRefusedNamingFieldAndValue) {
  EXPECT_EQ(ErrorOf("models:\n  - name: iris\n    actuator: hpa\n"),
            "config: models[0].actuator: invalid value \"hpa\" (expected coordinator or keda)");
}

TEST(ConfigActuatorsTest, TargetClaimedByKedaAndTheCoordinatorIsRefused) {
  const std::string error = ErrorOf(R"(servers:
  - name: mlserver
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver, namespace: ml}
models:
  - name: iris
    server: mlserver
    actuator: keda
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver, namespace: ml}
)");
  EXPECT_NE(error.find("models[0].actuator"), std::string::npos) << error;
  EXPECT_NE(error.find("Deployment ml/mlserver"), std::string::npos) << error;
  EXPECT_NE(error.find("servers[0] \"mlserver\""), std::string::npos) << error;
  EXPECT_NE(error.find("one writer per target"), std::string::npos) << error;
}

TEST(ConfigActuatorsTest, SameTargetBothMarkedKedaOrInOtherNamespacesIsAccepted) {
  EXPECT_EQ(ErrorOf(R"(servers:
  - name: mlserver
    actuator: keda
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver}
models:
  - name: iris
    actuator: keda
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver}
  - name: bert
    target: {apiVersion: apps/v1, kind: Deployment, name: mlserver, namespace: other}
)"),
            "");
}

TEST(ConfigActuatorsTest, SeldonDerivedTargetsCountAsClaims) {
  // In Seldon mode a model's target is its Model resource; an explicit target naming the same
  // Model for another entry is a second writer.
  const std::string error = ErrorOf(R"(seldon: {enabled: true, namespace: seldon-mesh}
models:
  - name: iris
    actuator: keda
  - name: iris-alias
    target: {apiVersion: mlops.seldon.io/v1alpha1, kind: Model, name: iris, namespace: seldon-mesh}
)");
  EXPECT_NE(error.find("Model seldon-mesh/iris"), std::string::npos) << error;
}

}  // namespace
}  // namespace lagscale::coordinator
