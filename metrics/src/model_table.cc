#include "lagscale/metrics/model_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>

namespace lagscale::metrics {

struct ModelTable::Entry {
  std::atomic<bool> published{false};
  uint8_t length = 0;
  char name[kMaxModelNameBytes];

  std::string_view view() const { return {name, length}; }
};

ModelTable::ModelTable(size_t max_models)
    : max_models_(max_models),
      mask_(std::bit_ceil(std::max<size_t>(16, max_models * 2)) - 1),
      slots_(new std::atomic<uint32_t>[mask_ + 1]),
      entries_(new Entry[max_models]) {
  for (size_t i = 0; i <= mask_; ++i) slots_[i].store(0, std::memory_order_relaxed);
}

ModelTable::~ModelTable() = default;

ModelId ModelTable::Resolve(std::string_view name) {
  if (!IsValidModelName(name)) {
    invalid_.fetch_add(1, std::memory_order_relaxed);
    return unattributed();
  }
  size_t i = std::hash<std::string_view>{}(name)&mask_;
  uint64_t reserved = UINT64_MAX;  // an id claimed for this name but not yet published
  for (;;) {
    uint32_t slot = slots_[i].load(std::memory_order_acquire);
    if (slot != 0) {
      ModelId id = slot - 1;
      if (entries_[id].view() == name) return id;
      i = (i + 1) & mask_;
      continue;
    }
    // The name is not in the table. Claim an id first (so a full table never takes a slot), write
    // the name into the id's entry, then publish the id in the slot with one CAS.
    if (reserved == UINT64_MAX) {
      if (next_id_.load(std::memory_order_relaxed) >= max_models_ ||
          (reserved = next_id_.fetch_add(1, std::memory_order_relaxed)) >= max_models_) {
        overflowed_.fetch_add(1, std::memory_order_relaxed);
        return overflow();
      }
      Entry& e = entries_[reserved];
      std::memcpy(e.name, name.data(), name.size());
      e.length = static_cast<uint8_t>(name.size());
    }
    uint32_t expected = 0;
    if (slots_[i].compare_exchange_strong(expected, static_cast<uint32_t>(reserved + 1),
                                          std::memory_order_acq_rel)) {
      entries_[reserved].published.store(true, std::memory_order_release);
      tracked_.fetch_add(1, std::memory_order_relaxed);
      return static_cast<ModelId>(reserved);
    }
    // Another thread filled this slot first; look at what it put there (it may be our name, in
    // which case the reserved id stays unpublished: a rare, bounded waste of one id).
  }
}

ModelId ModelTable::id_limit() const {
  return static_cast<ModelId>(
      std::min<uint64_t>(next_id_.load(std::memory_order_acquire), max_models_));
}

bool ModelTable::Published(ModelId id) const {
  return id < max_models_ && entries_[id].published.load(std::memory_order_acquire);
}

std::string_view ModelTable::Name(ModelId id) const { return entries_[id].view(); }

}  // namespace lagscale::metrics
