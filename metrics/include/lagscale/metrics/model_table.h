#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "lagscale/base/names.h"

namespace lagscale::metrics {

// Dense index of a model in the ledger. Ids [0, max_models) are tracked models; two more ids
// follow them for requests that name no model and for models past the cap.
using ModelId = uint32_t;

// The model-name rule the coordinator applies too (lagscale/base/names.h).
using base::IsValidModelName;
using base::kMaxModelNameBytes;

// ModelTable: maps untrusted model names to dense ids, tracking at most max_models of them.
//
// A fixed-capacity open-addressing hash table, allocated once: registering a name claims a slot
// with one compare-and-swap, so no request path ever takes a lock, and no input can grow memory.
// Names that are invalid resolve to unattributed(); valid names past the cap resolve to overflow().
//
// Thread safety: every method may be called concurrently from any thread. Name(id) is valid for
// ids returned by Resolve() and stays valid for the table's lifetime.
class ModelTable {
 public:
  explicit ModelTable(size_t max_models);
  ~ModelTable();
  ModelTable(const ModelTable&) = delete;
  ModelTable& operator=(const ModelTable&) = delete;

  ModelId Resolve(std::string_view name);

  ModelId unattributed() const { return static_cast<ModelId>(max_models_); }
  ModelId overflow() const { return static_cast<ModelId>(max_models_ + 1); }
  // Number of ids a per-model array must hold: tracked models plus the two special ids.
  size_t id_space() const { return max_models_ + 2; }
  size_t max_models() const { return max_models_; }

  // Upper bound (exclusive) of the ids handed out so far; some below it may be unpublished
  // (see Published()).
  ModelId id_limit() const;
  // True once `id` names a registered model whose name can be read.
  bool Published(ModelId id) const;
  // REQUIRES: Published(id).
  std::string_view Name(ModelId id) const;

  size_t tracked() const { return tracked_.load(std::memory_order_relaxed); }
  // Requests whose (valid) model name could not be tracked because the table was full.
  uint64_t overflowed_lookups() const { return overflowed_.load(std::memory_order_relaxed); }
  // Requests whose model name was not a valid label.
  uint64_t invalid_names() const { return invalid_.load(std::memory_order_relaxed); }

 private:
  struct Entry;

  const size_t max_models_;
  const size_t mask_;
  std::unique_ptr<std::atomic<uint32_t>[]> slots_;  // 0 = empty, else id + 1
  std::unique_ptr<Entry[]> entries_;                // indexed by id
  std::atomic<uint64_t> next_id_{0};
  std::atomic<size_t> tracked_{0};
  std::atomic<uint64_t> overflowed_{0};
  std::atomic<uint64_t> invalid_{0};
};

}  // namespace lagscale::metrics
