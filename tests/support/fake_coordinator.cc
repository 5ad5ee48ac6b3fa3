#include "support/fake_coordinator.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "lagscale/v1/lag.grpc.pb.h"

namespace lagscale::testing {

// The gRPC face: checks the token, records each report and acknowledges it.
class FakeCoordinator::Service final : public lagscale::v1::LagService::Service {
 public:
  explicit Service(FakeCoordinator& owner) : owner_(owner) {}

  grpc::Status Report(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<lagscale::v1::ReportAck, lagscale::v1::PodReport>* stream) override {
    if (!Authorized(*ctx)) {
      owner_.Reject();
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad token");
    }
    lagscale::v1::PodReport report;
    if (owner_.standby_) {
      const auto began = std::chrono::steady_clock::now();
      stream->Read(&report);  // the report is written before the refusal arrives
      owner_.Refuse(began);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this coordinator is not the leader");
    }
    while (stream->Read(&report)) {
      lagscale::v1::ReportAck ack;
      ack.set_incarnation(report.incarnation());
      ack.set_sequence(report.sequence());
      owner_.Record(std::move(report));
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }

 private:
  bool Authorized(const grpc::ServerContext& ctx) const {
    if (owner_.token_.empty()) return true;
    auto it = ctx.client_metadata().find("authorization");
    return it != ctx.client_metadata().end() && it->second == "Bearer " + owner_.token_;
  }

  FakeCoordinator& owner_;
};

FakeCoordinator::FakeCoordinator(std::string token) : token_(std::move(token)) { Serve(0); }

FakeCoordinator::~FakeCoordinator() { Stop(); }

void FakeCoordinator::Serve(int port) {
  service_ = std::make_unique<Service>(*this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
}

void FakeCoordinator::Stop() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  service_.reset();
}

void FakeCoordinator::Restart() {
  {
    std::lock_guard lock(mu_);
    log_ = {};
  }
  Serve(port_);
}

void FakeCoordinator::Record(lagscale::v1::PodReport report) {
  {
    std::lock_guard lock(mu_);
    log_.received.push_back({std::move(report), std::chrono::steady_clock::now()});
  }
  changed_.notify_all();
}

void FakeCoordinator::Reject() {
  {
    std::lock_guard lock(mu_);
    ++log_.rejected;
  }
  changed_.notify_all();
}

void FakeCoordinator::Refuse(std::chrono::steady_clock::time_point began) {
  {
    std::lock_guard lock(mu_);
    log_.refused.push_back(began);
  }
  changed_.notify_all();
}

std::vector<std::chrono::steady_clock::time_point> FakeCoordinator::refused() {
  std::lock_guard lock(mu_);
  return log_.refused;
}

std::vector<lagscale::v1::PodReport> FakeCoordinator::reports() {
  std::lock_guard lock(mu_);
  std::vector<lagscale::v1::PodReport> out;
  out.reserve(log_.received.size());
  for (const auto& r : log_.received) out.push_back(r.report);
  return out;
}

int FakeCoordinator::rejected() {
  std::lock_guard lock(mu_);
  return log_.rejected;
}

int FakeCoordinator::Log::ReportsSince(std::chrono::steady_clock::time_point since) const {
  int n = 0;
  for (const auto& r : received) n += r.at >= since ? 1 : 0;
  return n;
}

int FakeCoordinator::ReportsSince(std::chrono::steady_clock::time_point since) {
  std::lock_guard lock(mu_);
  return log_.ReportsSince(since);
}

bool FakeCoordinator::WaitFor(const std::function<bool(const Log&)>& holds,
                              std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, limit, [&] { return holds(log_); });
}

}  // namespace lagscale::testing
