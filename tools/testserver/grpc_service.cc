#include "grpc_service.h"

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "grpc_echo.h"
#include "grpc_knobs.h"
#include "grpc_stream.h"
#include "lagscale/version.h"

namespace lagscale::testserver {
namespace {

grpc::Status NotServed(const std::string& model) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND, "model '" + model + "' is not served here");
}

// One ModelInfer call: waits for a slot of its model, holds it for the service time (plus
// x-test-delay-ms), answers with the echoed inputs. A client that cancels (or whose deadline
// passes) leaves the queue at once, or ends its service early, so no slot is held for nobody.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  InferReactor(ModelPool& pool, boost::asio::io_context& io, TestKnobs knobs,
               const inference::ModelInferRequest& request, inference::ModelInferResponse* response)
      : pool_(pool),
        timer_(std::make_shared<boost::asio::steady_timer>(io)),
        knobs_(knobs),
        request_(request),
        response_(response) {
    // An unloaded model answers without a trip through the queue or the I/O thread.
    if (Slot slot = pool_.TryAcquire()) {
      StartService(std::move(slot));
      return;
    }
    waiter_ = std::make_shared<Waiter>();
    waiter_->executor = io.get_executor();
    waiter_->on_admit = [this](Admission admission, Slot slot) {
      OnAdmit(admission, std::move(slot));
    };
    pool_.Acquire(waiter_);
  }

  void OnCancel() override {
    if (waiter_) pool_.Cancel(waiter_);
    // The timer is shared so this stays safe after Complete() has finished the call; on the
    // timer's single I/O thread the cancel either cuts the service short or finds nothing to do.
    boost::asio::post(timer_->get_executor(), [timer = timer_] { timer->cancel(); });
  }
  void OnDone() override { delete this; }

 private:
  void OnAdmit(Admission admission, Slot slot) {
    if (admission == Admission::kQueueFull) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "queue of model '" + pool_.name() + "' is full"));
      return;
    }
    if (admission == Admission::kCancelled) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while queued"));
      return;
    }
    StartService(std::move(slot));
  }

  void StartService(Slot slot) {
    slot_ = std::move(slot);
    int ms = pool_.service_time_ms() + knobs_.delay_ms;
    if (ms == 0) return Complete();
    timer_->expires_after(std::chrono::milliseconds(ms));
    timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        slot_.Release();
        return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled during service"));
      }
      Complete();
    });
  }

  void Complete() {
    slot_.Release();
    EchoInfer(request_, response_);
    Finish(KnobStatus(knobs_));
  }

  ModelPool& pool_;
  std::shared_ptr<boost::asio::steady_timer> timer_;
  const TestKnobs knobs_;
  const inference::ModelInferRequest& request_;
  inference::ModelInferResponse* response_;
  std::shared_ptr<Waiter> waiter_;  // set only when the call had to queue
  Slot slot_;
};

}  // namespace

grpc::ServerUnaryReactor* InferenceService::Answer(grpc::CallbackServerContext* context,
                                                   grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  TestKnobs knobs;
  grpc::Status knob_status = ParseGrpcKnobs(*context, &knobs);
  if (!knob_status.ok()) {
    reactor->Finish(knob_status);
    return reactor;
  }
  if (status.ok()) status = KnobStatus(knobs);
  if (knobs.delay_ms == 0) {
    reactor->Finish(status);
    return reactor;
  }
  auto timer = std::make_shared<boost::asio::steady_timer>(
      pool_.Next(), std::chrono::milliseconds(knobs.delay_ms));
  timer->async_wait(
      [timer, reactor, status](const boost::system::error_code&) { reactor->Finish(status); });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(true);
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  if (capacity_.Find(request->name()) == nullptr) {
    return Answer(context, NotServed(request->name()));
  }
  response->set_ready(true);
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("lagscale-testserver");
  response->set_version(kVersion);
  response->add_extensions("model_repository");
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  if (capacity_.Find(request->name()) == nullptr) {
    return Answer(context, NotServed(request->name()));
  }
  response->set_name(request->name());
  response->add_versions(request->version().empty() ? "1" : request->version());
  response->set_platform("lagscale-testserver");
  for (auto* tensors : {response->mutable_inputs(), response->mutable_outputs()}) {
    auto* tensor = tensors->Add();
    tensor->set_name(tensors == response->mutable_inputs() ? "input0" : "output0");
    tensor->set_datatype("FP32");
    tensor->add_shape(-1);
    tensor->add_shape(-1);
  }
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  TestKnobs knobs;
  grpc::Status knob_status = ParseGrpcKnobs(*context, &knobs);
  ModelPool* pool = capacity_.Find(request->model_name());
  if (!knob_status.ok() || pool == nullptr) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(!knob_status.ok() ? knob_status : NotServed(request->model_name()));
    return reactor;
  }
  return new InferReactor(*pool, pool_.Next(), knobs, *request, response);
}

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return MakeStreamInferReactor(context, capacity_, pool_);
}

}  // namespace lagscale::testserver
