#pragma once

// The capacity model that makes lag build: per model, replicas x concurrency requests are served at
// once; the rest wait in a FIFO queue (bounded by the queue limit). Raising the replicas through
// /admin/scale admits waiting requests at once, which is how added replicas drain the lag.
//
// Thread safety: every method may be called from any thread. One mutex per model guards its
// counters and queue; admissions of queued requests are posted to the waiter's executor, never run
// under the lock or inline in the caller.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"

namespace lagscale::testserver {

class ModelPool;

// Slot: the right to serve one request of a model. Releasing it (or destroying it) ends the
// request's service and lets the next waiter in. Move-only.
class Slot {
 public:
  Slot() = default;
  Slot(Slot&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)) {}
  Slot& operator=(Slot&& other) noexcept;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { Release(); }

  void Release();
  explicit operator bool() const { return pool_ != nullptr; }

 private:
  friend class ModelPool;
  explicit Slot(ModelPool* pool) : pool_(pool) {}
  ModelPool* pool_ = nullptr;
};

enum class Admission { kGranted, kQueueFull, kCancelled };

// Waiter: one request asking for a slot. on_admit runs exactly once, posted to `executor`, with a
// held slot when granted.
struct Waiter {
  boost::asio::any_io_executor executor;
  std::function<void(Admission, Slot)> on_admit;
};

struct ModelState {
  std::string name;
  int replicas = 0;
  int concurrency = 0;  // per replica; 0 = no limit
  int service_time_ms = 0;
  LlmTiming llm;
  int serving = 0;
  int queued = 0;
  uint64_t served_total = 0;
  uint64_t rejected_total = 0;
};

// ModelPool: the slots and wait queue of one model.
class ModelPool {
 public:
  ModelPool(const ModelSpec& spec, int queue_limit);

  // Grants a slot now when one is free, else queues the waiter, else (queue full) rejects it.
  // Every outcome is delivered through waiter->on_admit on its executor. Returns whether the
  // waiter was queued (it may have been admitted since).
  bool Acquire(std::shared_ptr<Waiter> waiter);
  // The fast path for an unloaded model: a held slot when one is free and nobody waits, else an
  // empty Slot (then call Acquire).
  Slot TryAcquire();
  // Takes a still-queued waiter out of the queue and completes it with kCancelled; does nothing
  // once it was admitted.
  void Cancel(const std::shared_ptr<Waiter>& waiter);
  void SetReplicas(int replicas);
  // Shutdown: drops the queued waiters unanswered and admits no one from now on, so nothing is
  // posted to I/O threads that are going away.
  void Close();

  const std::string& name() const { return name_; }
  int service_time_ms() const { return service_time_ms_; }
  const LlmTiming& llm() const { return llm_; }
  ModelState State() const;

 private:
  friend class Slot;
  void Release();
  // Moves waiters from the queue into free slots. REQUIRES: mu_ held.
  std::vector<std::shared_ptr<Waiter>> AdmitLocked();
  bool HasFreeSlotLocked() const;
  static void Deliver(std::shared_ptr<Waiter> waiter, Admission admission, Slot slot);

  const std::string name_;
  const int service_time_ms_;
  const LlmTiming llm_;
  const int concurrency_;
  const int queue_limit_;
  mutable std::mutex mu_;
  int replicas_;                               // guarded by mu_
  int serving_ = 0;                            // guarded by mu_
  std::deque<std::shared_ptr<Waiter>> queue_;  // guarded by mu_
  uint64_t served_total_ = 0;                  // guarded by mu_
  uint64_t rejected_total_ = 0;                // guarded by mu_
  bool closed_ = false;                        // guarded by mu_
};

// Capacity: every model's pool, created from the --model list or, without one, on first use.
class Capacity {
 public:
  explicit Capacity(const Config& config);

  // The model's pool, or nullptr when the model is not served (not in the --model list, an invalid
  // name, or too many distinct names). Pools live as long as the Capacity.
  ModelPool* Find(std::string_view name);
  // A model decision: sets that model's replicas. False when the model is not served.
  bool SetModelReplicas(std::string_view name, int replicas);
  // A server decision: sets the server replicas (and, with placement "all", every model's).
  void SetServerReplicas(int replicas);

  // Closes every pool; call after the I/O threads stopped, before they are destroyed.
  void Close();

  int server_replicas() const;
  std::vector<ModelState> States() const;

  static constexpr size_t kMaxModels = 1000;

 private:
  const Config config_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<ModelPool>, std::less<>> pools_;  // guarded by mu_
  int server_replicas_;                                                   // guarded by mu_
  ModelSpec defaults_;  // guarded by mu_ (replicas follow server decisions under placement "all")
};

}  // namespace lagscale::testserver
