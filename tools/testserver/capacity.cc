#include "capacity.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/post.hpp>
#include <limits>

#include "model_name.h"

namespace lagscale::testserver {

Slot& Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
  }
  return *this;
}

void Slot::Release() {
  if (pool_ != nullptr) std::exchange(pool_, nullptr)->Release();
}

ModelPool::ModelPool(const ModelSpec& spec, int queue_limit)
    : name_(spec.name),
      service_time_ms_(spec.service_time_ms),
      llm_(spec.llm),
      concurrency_(spec.concurrency),
      queue_limit_(queue_limit),
      replicas_(spec.replicas) {}

bool ModelPool::HasFreeSlotLocked() const {
  if (concurrency_ == 0) return true;  // no limit
  return serving_ < static_cast<int64_t>(replicas_) * concurrency_;
}

void ModelPool::Deliver(std::shared_ptr<Waiter> waiter, Admission admission, Slot slot) {
  auto executor = waiter->executor;
  boost::asio::post(executor,
                    [waiter = std::move(waiter), admission, slot = std::move(slot)]() mutable {
                      waiter->on_admit(admission, std::move(slot));
                    });
}

bool ModelPool::Acquire(std::shared_ptr<Waiter> waiter) {
  Admission admission = Admission::kGranted;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (queue_.empty() && HasFreeSlotLocked()) {
      ++serving_;
    } else if (queue_limit_ > 0 && queue_.size() >= static_cast<size_t>(queue_limit_)) {
      ++rejected_total_;
      admission = Admission::kQueueFull;
    } else {
      queue_.push_back(std::move(waiter));
      return true;
    }
  }
  Deliver(std::move(waiter), admission, admission == Admission::kGranted ? Slot(this) : Slot());
  return false;
}

Slot ModelPool::TryAcquire() {
  std::lock_guard lock(mu_);
  if (closed_ || !queue_.empty() || !HasFreeSlotLocked()) return Slot();
  ++serving_;
  return Slot(this);
}

void ModelPool::Cancel(const std::shared_ptr<Waiter>& waiter) {
  {
    std::lock_guard lock(mu_);
    auto it = std::find(queue_.begin(), queue_.end(), waiter);
    if (it == queue_.end()) return;
    queue_.erase(it);
  }
  Deliver(waiter, Admission::kCancelled, Slot());
}

std::vector<std::shared_ptr<Waiter>> ModelPool::AdmitLocked() {
  std::vector<std::shared_ptr<Waiter>> admitted;
  while (!closed_ && !queue_.empty() && HasFreeSlotLocked()) {
    ++serving_;
    admitted.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return admitted;
}

void ModelPool::Release() {
  std::vector<std::shared_ptr<Waiter>> admitted;
  {
    std::lock_guard lock(mu_);
    --serving_;
    ++served_total_;
    admitted = AdmitLocked();
  }
  for (auto& waiter : admitted) Deliver(std::move(waiter), Admission::kGranted, Slot(this));
}

void ModelPool::SetReplicas(int replicas) {
  std::vector<std::shared_ptr<Waiter>> admitted;
  {
    std::lock_guard lock(mu_);
    replicas_ = replicas;
    admitted = AdmitLocked();
  }
  for (auto& waiter : admitted) Deliver(std::move(waiter), Admission::kGranted, Slot(this));
}

void ModelPool::Close() {
  std::deque<std::shared_ptr<Waiter>> dropped;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    dropped.swap(queue_);
  }
  // Destroyed outside the lock: a waiter's handler may own a connection whose teardown
  // releases other slots.
}

ModelState ModelPool::State() const {
  std::lock_guard lock(mu_);
  return ModelState{name_,
                    replicas_,
                    concurrency_,
                    service_time_ms_,
                    llm_,
                    serving_,
                    static_cast<int>(queue_.size()),
                    served_total_,
                    rejected_total_};
}

Capacity::Capacity(const Config& config)
    : config_(config), server_replicas_(config.server_replicas), defaults_(config.defaults) {
  for (const auto& spec : config.models) {
    pools_.emplace(spec.name, std::make_unique<ModelPool>(spec, config.queue_limit));
  }
}

ModelPool* Capacity::Find(std::string_view name) {
  {
    std::shared_lock lock(mu_);
    auto it = pools_.find(name);
    if (it != pools_.end()) return it->second.get();
  }
  // Without a --model list every valid name is served, up to a cap: names come from requests.
  if (!config_.models.empty() || !ValidModelName(name)) return nullptr;
  std::unique_lock lock(mu_);
  auto it = pools_.find(name);
  if (it != pools_.end()) return it->second.get();
  if (pools_.size() >= kMaxModels) return nullptr;
  ModelSpec spec = defaults_;
  spec.name = std::string(name);
  auto pool = std::make_unique<ModelPool>(spec, config_.queue_limit);
  ModelPool* raw = pool.get();
  pools_.emplace(spec.name, std::move(pool));
  return raw;
}

bool Capacity::SetModelReplicas(std::string_view name, int replicas) {
  ModelPool* pool = Find(name);
  if (pool == nullptr) return false;
  pool->SetReplicas(replicas);
  return true;
}

void Capacity::SetServerReplicas(int replicas) {
  std::unique_lock lock(mu_);
  server_replicas_ = replicas;
  if (config_.placement != Placement::kAll) return;
  defaults_.replicas = replicas;
  for (auto& [name, pool] : pools_) pool->SetReplicas(replicas);
}

void Capacity::Close() {
  std::shared_lock lock(mu_);
  for (auto& [name, pool] : pools_) pool->Close();
}

int Capacity::server_replicas() const {
  std::shared_lock lock(mu_);
  return server_replicas_;
}

std::vector<ModelState> Capacity::States() const {
  std::shared_lock lock(mu_);
  std::vector<ModelState> states;
  states.reserve(pools_.size());
  for (const auto& [name, pool] : pools_) states.push_back(pool->State());
  return states;
}

}  // namespace lagscale::testserver
