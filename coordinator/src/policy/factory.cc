// MakeModelPolicy: picks the policy a model is configured with.
#include "lagscale/coordinator/policy.h"
#include "policy/policies.h"

namespace lagscale::coordinator {

std::unique_ptr<ModelPolicy> MakeModelPolicy(const ModelPolicyConfig& config) {
  switch (config.kind) {
    case PolicyKind::kLagThreshold:
      return policy::MakeLagThreshold(config);
    case PolicyKind::kTargetTracking:
      break;
  }
  return policy::MakeTargetTracking(config);
}

}  // namespace lagscale::coordinator
