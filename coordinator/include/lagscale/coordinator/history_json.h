#pragma once

// The /status/models/{name}/history and /status/servers/{name}/history documents (field
// reference: docs/coordinator.md), and the route that serves them.
// Thread safety: pure functions; HistoryRoute() only reads the thread-safe HistoryStore.

#include <optional>
#include <string>

#include "lagscale/coordinator/history.h"
#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

// `kind` is "model" or "server".
std::string HistoryJson(const std::string& kind, const std::string& name, const HistoryCopy& copy,
                        const HistoryStore& store);

// Serves GET /status/models/{name}/history[?seconds=N] and /status/servers/{name}/history from
// the two stores; nullopt when `path` is not a history path. 404 for an untracked series, 400 for
// a bad `seconds` (1..900).
std::optional<HttpReply> HistoryRoute(const HistoryStore& models, const HistoryStore& servers,
                                      const std::string& path, const std::string& query);

}  // namespace lagscale::coordinator
