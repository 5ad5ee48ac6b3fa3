#include "policy/packing.h"

#include <algorithm>
#include <set>
#include <string>

namespace lagscale::coordinator::policy {

PackingResult PackFirstFitDecreasing(const std::vector<ServerModelDemand>& models,
                                     double capacity_bytes) {
  PackingResult result;
  for (const auto& m : models) result.widest = std::max(result.widest, m.desired_replicas);
  if (capacity_bytes <= 0) {
    result.servers = result.widest;
    return result;
  }
  // Items: one per model replica, biggest first (ties by name keep the result deterministic).
  std::vector<const ServerModelDemand*> order;
  for (const auto& m : models) {
    if (m.desired_replicas > 0) order.push_back(&m);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->memory_bytes != b->memory_bytes ? a->memory_bytes > b->memory_bytes
                                              : a->model < b->model;
  });
  struct Bin {
    double free;
    std::set<std::string> models;
  };
  std::vector<Bin> bins;
  for (const auto* m : order) {
    for (int r = 0; r < m->desired_replicas; ++r) {
      if (m->memory_bytes > capacity_bytes) {
        ++result.oversized;
        bins.push_back(Bin{0, {m->model}});
        continue;
      }
      auto fits = [&](const Bin& b) {
        return b.free >= m->memory_bytes && !b.models.count(m->model);
      };
      auto it = std::find_if(bins.begin(), bins.end(), fits);
      if (it == bins.end()) {
        bins.push_back(Bin{capacity_bytes, {}});
        it = std::prev(bins.end());
      }
      it->free -= m->memory_bytes;
      it->models.insert(m->model);
    }
  }
  result.servers = std::max(static_cast<int>(bins.size()), result.widest);
  return result;
}

}  // namespace lagscale::coordinator::policy
