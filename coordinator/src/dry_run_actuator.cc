// dry-run: decisions are only logged (and shown on /status by the decision loop).
#include <spdlog/spdlog.h>

#include "lagscale/coordinator/actuator.h"

namespace lagscale::coordinator {
namespace {

class DryRunActuator final : public Actuator {
 public:
  const char* name() const override { return "dry-run"; }
  ActuationResult Apply(const ScaleRequest& r) override {
    spdlog::info("dry-run: {} {} -> {} replicas ({})", r.Key(), r.from, r.to, r.reason);
    ActuationResult result;
    result.observed_replicas = r.to;
    return result;
  }
};

}  // namespace

std::unique_ptr<Actuator> MakeDryRunActuator() { return std::make_unique<DryRunActuator>(); }

}  // namespace lagscale::coordinator
