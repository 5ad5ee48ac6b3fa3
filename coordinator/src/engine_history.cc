// One history sample per second of every model and server (runs on the loop thread). Models are
// sampled inside the decision pass, while their state is still in cache from the policy's reads:
// a second pass over 10,000 models would cost mostly cache misses.
#include "engine_state.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {

void Engine::SampleModel(ModelEntry& e, int current) {
  HistorySample s;
  if (e.demand) {
    s.inflight = static_cast<float>(e.demand->Inflight());
    // The windows cost two ring sums, paid only where a series shows them (an untracked model
    // competes for a slot on its in-flight load alone).
    if (e.history.slot >= 0 || (e.server_entry && e.server_entry->history.slot >= 0)) {
      s.concurrency = static_cast<float>(e.demand->AverageConcurrency(1));
      s.arrivals_per_s = static_cast<float>(e.demand->ArrivalRate(1));
    }
    if (e.server_entry) {
      HistorySums& sum = e.server_entry->history_sums;
      sum.inflight += s.inflight;
      sum.concurrency += s.concurrency;
      sum.arrivals += s.arrivals_per_s;
      sum.any = true;
    }
  }
  s.desired = HistorySample::Replicas(e.desired);
  s.current = HistorySample::Replicas(current);
  history_entries_.push_back({&e.key.name, &e.history, s, e.last ? &*e.last : nullptr});
}

void Engine::WriteHistory(int64_t unix_s) {
  model_history_.Write(unix_s, history_entries_);
  history_entries_.clear();
  for (auto& [name, ep] : servers_) {
    ServerEntry& e = *ep;
    HistorySample s;
    if (e.history_sums.any) {
      s.inflight = e.history_sums.inflight;
      s.concurrency = e.history_sums.concurrency;
      s.arrivals_per_s = e.history_sums.arrivals;
    }
    e.history_sums = HistorySums{};
    s.desired = HistorySample::Replicas(e.desired);
    s.current = HistorySample::Replicas(e.observed >= 0 ? e.observed : e.desired);
    history_entries_.push_back({&e.key.name, &e.history, s, e.last ? &*e.last : nullptr});
  }
  server_history_.Write(unix_s, history_entries_);
  history_entries_.clear();
}

}  // namespace lagscale::coordinator
