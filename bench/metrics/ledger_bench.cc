// Cost of one request's accounting (Begin + End on the caller's own shard), on 1..8 threads,
// with the clock read per call and with the time of the event-loop turn handed in.
// The goal: <= 25 ns per request, flat as threads grow (shards share no cache lines).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "lagscale/metrics/ledger.h"

namespace lagscale::metrics {
namespace {

// "prefix" + i, appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict inside
// std::string's operator+ (GCC bug 105329), which the CI's warnings-as-errors would stop on.
std::string Name(const char* prefix, int i) {
  std::string name(prefix);
  name += std::to_string(i);
  return name;
}

ModelTable* g_table;
Ledger* g_ledger;

void BM_BeginEnd(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_table = new ModelTable(1000);
    for (int i = 0; i < 8; ++i) g_table->Resolve(Name("model-", i));
    g_ledger = new Ledger(*g_table, static_cast<size_t>(state.threads()));
  }
  // Threads start together after setup (Google Benchmark's barrier at the first iteration).
  size_t i = 0;
  for (auto _ : state) {
    if (i == 0) {
      benchmark::DoNotOptimize(g_ledger);
    }
    LedgerShard& shard = g_ledger->shard(static_cast<size_t>(state.thread_index()));
    RequestGuard g = shard.Begin(static_cast<ModelId>(i++ & 7));
    g.End(Outcome::kSuccess);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete g_ledger;
    delete g_table;
  }
}
BENCHMARK(BM_BeginEnd)->ThreadRange(1, 8)->UseRealTime();

// The path the proxies take: Begin and End at a time the caller read once for its whole
// event-loop turn (TurnClock), so what is left is the ledger's own bookkeeping. The time moves
// on each iteration, as it does between turns.
void BM_BeginEndAtTurnTime(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_table = new ModelTable(1000);
    for (int i = 0; i < 8; ++i) g_table->Resolve(Name("model-", i));
    g_ledger = new Ledger(*g_table, static_cast<size_t>(state.threads()));
  }
  size_t i = 0;
  int64_t now = base::SystemClock::Get().MonotonicNs();
  for (auto _ : state) {
    if (i == 0) {
      benchmark::DoNotOptimize(g_ledger);
    }
    LedgerShard& shard = g_ledger->shard(static_cast<size_t>(state.thread_index()));
    RequestGuard g = shard.Begin(static_cast<ModelId>(i++ & 7), now);
    now += 1000;
    g.End(Outcome::kSuccess, now);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete g_ledger;
    delete g_table;
  }
}
BENCHMARK(BM_BeginEndAtTurnTime)->ThreadRange(1, 8)->UseRealTime();

// One reading of the ledger clock: what a turn pays once, however many events it handles.
void BM_ClockRead(benchmark::State& state) {
  const base::Clock& clock = base::SystemClock::Get();
  for (auto _ : state) benchmark::DoNotOptimize(clock.MonotonicNs());
}
BENCHMARK(BM_ClockRead);

void BM_Resolve(benchmark::State& state) {
  ModelTable table(1000);
  for (int i = 0; i < 100; ++i) table.Resolve(Name("model-", i));
  const std::string name = "model-42";
  for (auto _ : state) benchmark::DoNotOptimize(table.Resolve(name));
}
BENCHMARK(BM_Resolve);

void BM_Snapshot1000Models(benchmark::State& state) {
  ModelTable table(1000);
  Ledger ledger(table, 2);
  for (int i = 0; i < 1000; ++i) ledger.shard(0).Begin(table.Resolve(Name("m", i)));
  for (auto _ : state) benchmark::DoNotOptimize(ledger.Snapshot());
}
BENCHMARK(BM_Snapshot1000Models);

}  // namespace
}  // namespace lagscale::metrics
