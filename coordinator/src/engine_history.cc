// One history sample per second of every model and server (runs on the loop thread).
#include <algorithm>
#include <unordered_map>
#include <vector>

#include "engine_state.h"
#include "lagscale/coordinator/engine.h"

namespace lagscale::coordinator {
namespace {

// A server's second: the sums over the models it hosts.
struct ServerSums {
  float inflight = 0, concurrency = 0, arrivals = 0;
};

// The replicas a model has now, as /status shows them.
template <class E>
int ModelCurrent(const E& e) {
  if (e.observed >= 0) return e.observed;
  if (e.desired >= 0) return e.desired;
  const int hosting = e.demand ? static_cast<int>(e.demand->hosting_pods()) : 0;
  return std::max(hosting, e.config.min_replicas);
}

// A decision taken in the cycle that first gave a series its slot was recorded before the slot
// existed; mark it now.
template <class E>
void MarkFirstDecision(HistoryStore& store, const E& e, bool was_tracked, int64_t unix_s) {
  if (was_tracked || e.history.slot < 0 || !e.last) return;
  if (e.last->time_unix_ms / 1000 >= unix_s - 1) store.AddDecision(e.name, *e.last);
}

}  // namespace

void Engine::SampleHistory(int64_t unix_s) {
  thread_local std::unordered_map<const ServerEntry*, ServerSums> sums;
  thread_local std::vector<bool> tracked;
  sums.clear();
  tracked.clear();
  history_entries_.clear();
  for (auto& [name, ep] : models_) {
    ModelEntry& e = *ep;
    HistorySample s;
    // In flight is a read; the windows cost two ring sums, paid only where a series shows them
    // (an untracked model competes for a slot on its in-flight load alone).
    const bool shown = e.history.slot >= 0 || (e.server_entry && e.server_entry->history.slot >= 0);
    if (e.demand) {
      s.inflight = static_cast<float>(e.demand->Inflight());
      if (shown) {
        s.concurrency = static_cast<float>(e.demand->AverageConcurrency(1));
        s.arrivals_per_s = static_cast<float>(e.demand->ArrivalRate(1));
      }
    }
    s.desired = HistorySample::Replicas(e.desired);
    s.current = HistorySample::Replicas(ModelCurrent(e));
    if (e.server_entry && e.demand) {
      ServerSums& sum = sums[e.server_entry];
      sum.inflight += s.inflight;
      sum.concurrency += s.concurrency;
      sum.arrivals += s.arrivals_per_s;
    }
    tracked.push_back(e.history.slot >= 0);
    history_entries_.push_back(HistoryStore::Entry{&e.name, &e.history, s});
  }
  model_history_.Write(unix_s, history_entries_);
  size_t i = 0;
  for (auto& [name, ep] : models_) MarkFirstDecision(model_history_, *ep, tracked[i++], unix_s);

  history_entries_.clear();
  tracked.clear();
  for (auto& [name, ep] : servers_) {
    ServerEntry& e = *ep;
    HistorySample s;
    if (auto it = sums.find(&e); it != sums.end()) {
      s.inflight = it->second.inflight;
      s.concurrency = it->second.concurrency;
      s.arrivals_per_s = it->second.arrivals;
    }
    s.desired = HistorySample::Replicas(e.desired);
    s.current = HistorySample::Replicas(e.observed >= 0 ? e.observed : e.desired);
    tracked.push_back(e.history.slot >= 0);
    history_entries_.push_back(HistoryStore::Entry{&e.name, &e.history, s});
  }
  server_history_.Write(unix_s, history_entries_);
  i = 0;
  for (auto& [name, ep] : servers_) MarkFirstDecision(server_history_, *ep, tracked[i++], unix_s);
}

}  // namespace lagscale::coordinator
