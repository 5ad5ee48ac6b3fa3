#pragma once

// Who actuates each configured target (config.cc's helpers for the `actuator` key).

#include <string>

#include "lagscale/coordinator/config.h"

namespace lagscale::coordinator {

// "coordinator" or "keda"; throws ConfigError naming `<prefix>.actuator` and the value otherwise.
ActuatedBy ParseActuatedBy(const std::string& text, const std::string& prefix);

// Throws ConfigError when one Kubernetes object would be written both by KEDA (a target marked
// `actuator: keda`) and by the coordinator (any other target, explicit or Seldon-derived).
void CheckOneWriterPerTarget(const Config& config);

}  // namespace lagscale::coordinator
