#pragma once
// A V2 inference.GRPCInferenceService for gRPC passthrough tests, steered per call by metadata:
//   x-delay-ms: N      answer after N ms (returns early, CANCELLED, if the call is cancelled)
//   x-status: CODE     finish with this gRPC status code and message "status from upstream"
//                      (and binary error details "details:CODE")
//   x-echo: V          send initial metadata x-initial: V and trailer x-trailer: V
// ModelStreamInfer answers each request in order once Release() allows it; a request whose id is
// "error" gets a response carrying error_message.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "inference/grpc_service.grpc.pb.h"

namespace lagscale::testing {

class GrpcUpstream final : public inference::GRPCInferenceService::Service {
 public:
  // Starts on 127.0.0.1:`port` (0 = any); `max_streams` > 0 limits concurrent streams per
  // connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
  explicit GrpcUpstream(int port = 0, int max_streams = 0) {
    grpc::ServerBuilder builder;
    if (max_streams > 0) builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, max_streams);
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~GrpcUpstream() override { Stop(); }
  void Stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Lets the stream handlers answer `n` more requests.
  void Release(int n) { released_ += n; }
  int received() const { return received_.load(); }    // request messages seen (all methods)
  // Whether a ModelInfer request with this non-empty id has arrived (so a proxy in front counted it).
  bool Saw(const std::string& id) {
    std::lock_guard lock(ids_mu_);
    return ids_.count(id) > 0;
  }
  int cancelled() const { return cancelled_.load(); }  // calls that saw their cancellation
  // The deadline of the last call, as the upstream saw it (time_point::max() if none).
  std::chrono::system_clock::time_point last_deadline() const { return last_deadline_.load(); }

  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* resp) override {
    last_deadline_ = ctx->deadline();
    ++received_;
    if (!req->id().empty()) {
      std::lock_guard lock(ids_mu_);
      ids_.insert(req->id());
    }
    Echo(ctx);
    if (!Wait(ctx, std::stoi("0" + Meta(ctx, "x-delay-ms")))) return grpc::Status::CANCELLED;
    resp->set_model_name(req->model_name());
    resp->set_id(req->id());
    return Verdict(ctx);
  }

  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest*,
                          inference::ModelReadyResponse* resp) override {
    ++received_;
    resp->set_ready(true);
    return Verdict(ctx);
  }

  grpc::Status ServerLive(grpc::ServerContext* ctx, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* resp) override {
    ++received_;
    resp->set_live(true);
    return Verdict(ctx);
  }

  grpc::Status ModelStreamInfer(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest>*
          stream) override {
    Echo(ctx);
    inference::ModelInferRequest req;
    while (stream->Read(&req)) {
      const int index = answered_ + 1;
      ++received_;
      while (released_.load() < index) {  // wait for the test to let this answer go
        if (ctx->IsCancelled()) {
          ++cancelled_;
          return grpc::Status::CANCELLED;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ++answered_;
      inference::ModelStreamInferResponse resp;
      if (req.id() == "error") resp.set_error_message("bad tensor");
      resp.mutable_infer_response()->set_model_name(req.model_name());
      resp.mutable_infer_response()->set_id(req.id());
      if (!stream->Write(resp)) break;
    }
    return Verdict(ctx);
  }

 private:
  static std::string Meta(grpc::ServerContext* ctx, const std::string& key) {
    auto it = ctx->client_metadata().find(key);
    if (it == ctx->client_metadata().end()) return "";
    return std::string(it->second.data(), it->second.size());
  }
  static void Echo(grpc::ServerContext* ctx) {
    std::string v = Meta(ctx, "x-echo");
    if (v.empty()) return;
    ctx->AddInitialMetadata("x-initial", v);
    ctx->AddTrailingMetadata("x-trailer", v);
  }
  // Simulated service time; false if the call was cancelled meanwhile.
  bool Wait(grpc::ServerContext* ctx, int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (ctx->IsCancelled()) {
        ++cancelled_;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  static grpc::Status Verdict(grpc::ServerContext* ctx) {
    std::string code = Meta(ctx, "x-status");
    if (code.empty()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(std::stoi(code)), "status from upstream",
                        "details:" + code);
  }

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<int> released_{0};
  std::atomic<int> answered_{0};
  std::atomic<int> received_{0};
  std::mutex ids_mu_;
  std::set<std::string> ids_;  // guarded by ids_mu_
  std::atomic<int> cancelled_{0};
  std::atomic<std::chrono::system_clock::time_point> last_deadline_{
      std::chrono::system_clock::time_point::max()};
};

}  // namespace lagscale::testing
