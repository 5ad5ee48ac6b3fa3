// ScalerViewHub: the hand-over between the decision loop and the external-scaler gRPC threads.
#include "lagscale/coordinator/scaler_view.h"

#include <algorithm>

namespace lagscale::coordinator {

ScalerViewHub::ScalerViewHub() : view_(std::make_shared<const ScalerView>()) {}

void ScalerViewHub::Publish(std::shared_ptr<const ScalerView> view, bool activity_changed) {
  {
    std::lock_guard lock(mu_);
    view_ = std::move(view);
    if (activity_changed) ++generation_;
  }
  if (activity_changed) cv_.notify_all();
}

std::shared_ptr<const ScalerView> ScalerViewHub::Latest() const {
  std::lock_guard lock(mu_);
  return view_;
}

uint64_t ScalerViewHub::WaitForActivityChange(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || generation_ != seen; });
  return generation_;
}

uint64_t ScalerViewHub::activity_generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void ScalerViewHub::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool ScalerViewHub::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void ScalerViewHub::RecordRead(KedaRead read) {
  const std::string key = read.kind + '\0' + read.name + '\0' + read.metric + '\0' + read.call;
  std::lock_guard lock(mu_);
  if (!reads_.count(key) && reads_.size() >= kMaxReads) {
    auto oldest = std::min_element(reads_.begin(), reads_.end(), [](const auto& a, const auto& b) {
      return a.second.time_unix_ms < b.second.time_unix_ms;
    });
    reads_.erase(oldest);
  }
  reads_[key] = std::move(read);
}

std::vector<KedaRead> ScalerViewHub::Reads() const {
  std::lock_guard lock(mu_);
  std::vector<KedaRead> out;
  out.reserve(reads_.size());
  for (const auto& [key, r] : reads_) out.push_back(r);
  return out;
}

}  // namespace lagscale::coordinator
