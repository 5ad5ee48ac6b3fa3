#pragma once

// The coordinator's HTTP routes: /status, /status/models/{name}, /status/{models,servers}/{name}/
// history, /, /metrics, /healthz, /readyz.
// Thread safety: the returned handler reads only published snapshots and thread-safe metrics.

#include "lagscale/coordinator/coordinator_metrics.h"
#include "lagscale/coordinator/engine.h"
#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

HttpHandler MakeRoutes(const Engine& engine, const CoordinatorMetrics& metrics);

}  // namespace lagscale::coordinator
