// Cost of one /metrics scrape of the sidecar: the ledger's snapshot, prometheus-cpp's families and
// their text, for 8 and 100 models that have all seen traffic (issue 18's scrape-cost goal: a
// scraper 10 times a second must cost a loaded sidecar under 2 % of its requests per second).
#include <benchmark/benchmark.h>

#include <string>

#include "lagscale/metrics/exposition.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"

namespace lagscale::metrics {
namespace {

void BM_RenderMetrics(benchmark::State& state) {
  const int models = static_cast<int>(state.range(0));
  ModelTable table(1000);
  Ledger ledger(table, 1);
  ServerCounters server(1);
  for (int i = 0; i < models; ++i) {
    std::string name("model-");
    name += std::to_string(i);
    const ModelId id = table.Resolve(name);
    // Spread durations over the histogram's buckets: 1 us to about 16 s.
    for (int64_t ns = 1000; ns < 20'000'000'000; ns *= 2) {
      RequestGuard g = ledger.shard(0).Begin(id, 0);
      g.End(Outcome::kSuccess, ns);
    }
  }
  Exposition exposition(ledger, server, {"mlserver", "mlserver-0"});
  size_t bytes = 0;
  for (auto _ : state) {
    RenderedMetrics m = exposition.Render();
    bytes = m.body.size();
    benchmark::DoNotOptimize(m);
  }
  state.counters["body_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_RenderMetrics)->Arg(8)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace lagscale::metrics
