#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"

namespace lagscale::metrics {

// Constant labels on every series, so series from many pods aggregate.
struct ExpositionLabels {
  std::string server;
  std::string pod;
};

struct RenderedMetrics {
  std::string content_type;
  std::string body;
};

// Exposition: renders the ledger and the server counters for Prometheus at scrape time (through a
// prometheus::Collectable), so the request path never touches prometheus-cpp.
// Thread safety: Render() may be called concurrently from any thread.
class Exposition {
 public:
  Exposition(const Ledger& ledger, const ServerCounters& server, ExpositionLabels labels);
  ~Exposition();
  // Text format 0.0.4, or OpenMetrics 1.0.0 when `accept` asks for application/openmetrics-text.
  RenderedMetrics Render(std::string_view accept = {}) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The JSON body of the sidecar's /stats endpoint (see README "Admin endpoints").
std::string StatsJson(const LedgerSnapshot& snapshot);

}  // namespace lagscale::metrics
