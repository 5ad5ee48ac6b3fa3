#include "grpc_stream.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "grpc_echo.h"
#include "grpc_knobs.h"

namespace lagscale::testserver {
namespace {

using inference::ModelInferRequest;
using inference::ModelStreamInferResponse;

// Reads run ahead of the answers (each message queues at once); writes go out one at a time in
// sequence order. The reactor finishes only when reads are done, no inference is outstanding and
// every answer was written (or the call was cancelled), so no timer or admission can outlive it.
class StreamInferReactor final
    : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  StreamInferReactor(grpc::CallbackServerContext* context, Capacity& capacity, IoPool& pool)
      : capacity_(capacity), io_(pool.Next()) {
    grpc::Status knob_status = ParseGrpcKnobs(*context, &knobs_);
    if (!knob_status.ok()) {
      finished_ = true;
      Finish(knob_status);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::unique_lock lock(mu_);
      reads_done_ = true;
      return Progress(std::move(lock));
    }
    ModelInferRequest request = std::move(request_);
    request_.Clear();
    uint64_t seq;
    {
      std::lock_guard lock(mu_);
      seq = next_seq_++;
      ++outstanding_;
    }
    StartRead(&request_);
    Submit(seq, std::move(request));
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    writing_ = false;
    if (!ok) broken_ = true;
    ++next_write_;
    Progress(std::move(lock));
  }

  void OnCancel() override {
    std::vector<std::pair<ModelPool*, std::shared_ptr<Waiter>>> queued;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> timers;
    {
      std::lock_guard lock(mu_);
      broken_ = true;
      for (auto& [seq, entry] : queued_) queued.push_back(entry);
      for (auto& [seq, timer] : timers_) timers.push_back(timer);
    }
    // Outside the lock: cancelled waiters come back through OnAdmit on the I/O thread, and the
    // services in progress end early, so the call finishes at once.
    for (auto& [pool, waiter] : queued) pool->Cancel(waiter);
    for (auto& timer : timers) {
      boost::asio::post(io_, [timer] { timer->cancel(); });
    }
  }

  void OnDone() override { delete this; }

 private:
  void Submit(uint64_t seq, ModelInferRequest request) {
    ModelPool* pool = capacity_.Find(request.model_name());
    if (pool == nullptr) {
      ModelStreamInferResponse answer;
      answer.set_error_message("model '" + request.model_name() + "' is not served here");
      return Deliver(seq, std::move(answer));
    }
    auto waiter = std::make_shared<Waiter>();
    waiter->executor = io_.get_executor();
    auto shared_request = std::make_shared<ModelInferRequest>(std::move(request));
    bool cancelled = false;
    waiter->on_admit = [this, seq, pool, shared_request](Admission admission, Slot slot) {
      OnAdmit(seq, *pool, std::move(*shared_request), admission, std::move(slot));
    };
    {
      std::lock_guard lock(mu_);
      cancelled = broken_;  // OnCancel has already swept the queue: do not join it now
      if (!cancelled) queued_.emplace(seq, std::make_pair(pool, waiter));
    }
    if (cancelled) {
      ModelStreamInferResponse answer;
      answer.set_error_message("cancelled");
      return Deliver(seq, std::move(answer));
    }
    pool->Acquire(std::move(waiter));
  }

  void OnAdmit(uint64_t seq, ModelPool& pool, ModelInferRequest request, Admission admission,
               Slot slot) {
    {
      std::lock_guard lock(mu_);
      queued_.erase(seq);
    }
    ModelStreamInferResponse answer;
    if (admission != Admission::kGranted) {
      answer.set_error_message(admission == Admission::kQueueFull
                                   ? "queue of model '" + pool.name() + "' is full"
                                   : "cancelled while queued");
      return Deliver(seq, std::move(answer));
    }
    EchoInfer(request, answer.mutable_infer_response());
    int ms = pool.service_time_ms() + knobs_.delay_ms;
    if (ms == 0) return Deliver(seq, std::move(answer));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(ms));
    auto held = std::make_shared<Slot>(std::move(slot));
    auto shared_answer = std::make_shared<ModelStreamInferResponse>(std::move(answer));
    {
      std::lock_guard lock(mu_);
      if (broken_) timer->expires_after(std::chrono::milliseconds(0));
      timers_.emplace(seq, timer);
    }
    timer->async_wait([this, seq, held, shared_answer](const boost::system::error_code&) {
      held->Release();
      {
        std::lock_guard lock(mu_);
        timers_.erase(seq);
      }
      Deliver(seq, std::move(*shared_answer));
    });
  }

  // An answer is ready: keep it until its turn.
  void Deliver(uint64_t seq, ModelStreamInferResponse answer) {
    std::unique_lock lock(mu_);
    --outstanding_;
    ready_.emplace(seq, std::move(answer));
    Progress(std::move(lock));
  }

  // Starts the next write or finishes the call; gRPC is called after the lock is released.
  void Progress(std::unique_lock<std::mutex> lock) {
    if (finished_ || writing_) return;
    auto next = ready_.find(next_write_);
    if (!broken_ && next != ready_.end()) {
      current_ = std::move(next->second);
      ready_.erase(next);
      writing_ = true;
      lock.unlock();
      StartWrite(&current_);
      return;
    }
    if (reads_done_ && outstanding_ == 0 && (broken_ || ready_.empty())) {
      finished_ = true;
      lock.unlock();
      Finish(broken_ ? grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled")
                     : KnobStatus(knobs_));
    }
  }

  Capacity& capacity_;
  boost::asio::io_context& io_;
  TestKnobs knobs_;
  ModelInferRequest request_;  // the read in progress (one at a time)

  std::mutex mu_;
  uint64_t next_seq_ = 0;                                                      // guarded by mu_
  uint64_t next_write_ = 0;                                                    // guarded by mu_
  int outstanding_ = 0;                                                        // guarded by mu_
  bool reads_done_ = false;                                                    // guarded by mu_
  bool writing_ = false;                                                       // guarded by mu_
  bool broken_ = false;                                                        // guarded by mu_
  bool finished_ = false;                                                      // guarded by mu_
  std::map<uint64_t, ModelStreamInferResponse> ready_;                         // guarded by mu_
  std::map<uint64_t, std::pair<ModelPool*, std::shared_ptr<Waiter>>> queued_;  // guarded by mu_
  std::map<uint64_t, std::shared_ptr<boost::asio::steady_timer>> timers_;      // guarded by mu_
  ModelStreamInferResponse current_;  // the write in progress; owned by writing_
};

}  // namespace

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>* MakeStreamInferReactor(
    grpc::CallbackServerContext* context, Capacity& capacity, IoPool& pool) {
  return new StreamInferReactor(context, capacity, pool);
}

}  // namespace lagscale::testserver
