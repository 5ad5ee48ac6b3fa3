#pragma once

// The gRPC passthrough's test fixture, shared by grpc_proxy_test.cc (attribution and outcomes),
// grpc_proxy_transport_test.cc (connections, flow control, restarts) and
// grpc_proxy_services_test.cc (other services, an unreachable upstream, start-up) and
// grpc_proxy_idle_test.cc (the idle limit): a GrpcProxy on
// an OS-chosen loopback port in front of testing::GrpcUpstream, with a ledger to read what it
// counted. Every test runs for both engines (GrpcProxyOptions::Engine).

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "lagscale/proxy/grpc_proxy.h"
#include "support/grpc_upstream.h"
#include "support/process.h"

namespace lagscale::proxy {

using Engine = GrpcProxyOptions::Engine;
using metrics::Outcome;
using namespace std::chrono_literals;

inline std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kCalls ? "Calls" : "Frames";
}

// Polls `done` until it holds or 5 s pass.
inline bool Eventually(const std::function<bool()>& done) { return testing::Eventually(done, 5s); }

class GrpcProxyTest : public ::testing::TestWithParam<Engine> {
 protected:
  GrpcProxyTest() : table_(100), ledger_(table_, 4) {}

  void SetUp() override { StartProxy(upstream_.address()); }

  void StartProxy(const std::string& upstream,
                  std::vector<std::string> model_headers = {"seldon-model"},
                  std::chrono::milliseconds idle_timeout = GrpcProxyOptions{}.idle_timeout) {
    GrpcProxyOptions options;
    options.listen = "127.0.0.1:0";
    options.upstream = upstream;
    options.model_headers = std::move(model_headers);
    options.engine = GetParam();
    options.idle_timeout = idle_timeout;
    // Like the sidecar: the HTTP threads own shards 0-1, gRPC gets the last two.
    proxy_ = std::make_unique<GrpcProxy>(options, ledger_, 2, 2);
    proxy_->Start();
    ASSERT_GT(proxy_->port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  // Counters of `model` ("" = unattributed) once every call through the proxy has ended.
  metrics::ModelStats Settled(const std::string& model) {
    EXPECT_TRUE(Eventually([&] {
      if (proxy_->active_calls() != 0) return false;
      auto snap = ledger_.Snapshot();
      if (snap.unattributed.inflight() != 0) return false;
      for (const auto& [name, stats] : snap.models) {
        if (stats.inflight() != 0) return false;
      }
      return true;
    })) << "calls still in flight";
    return Stats(model);
  }

  metrics::ModelStats Stats(const std::string& model) {
    auto snap = ledger_.Snapshot();
    if (model.empty()) return snap.unattributed;
    for (const auto& [name, stats] : snap.models) {
      if (name == model) return stats;
    }
    return {};
  }

  grpc::Status Infer(const std::string& model, grpc::ClientContext& ctx,
                     inference::ModelInferResponse* resp = nullptr) {
    inference::ModelInferRequest req;
    req.set_model_name(model);
    req.set_id("req-1");
    req.add_raw_input_contents(std::string(1000, 'x'));  // fields after the name are skipped
    inference::ModelInferResponse ignored;
    return stub_->ModelInfer(&ctx, req, resp ? resp : &ignored);
  }

  // "success=1 client_error=0 ..." for a failure message.
  static std::string OutcomesText(const metrics::ModelStats& s) {
    std::string all;
    for (size_t i = 0; i < metrics::kOutcomeCount; ++i) {
      all += std::string(metrics::OutcomeName(static_cast<Outcome>(i))) + "=" +
             std::to_string(s.outcomes[i]) + " ";
    }
    return all;
  }

  static void ExpectOnly(const metrics::ModelStats& s, uint64_t n, Outcome outcome) {
    EXPECT_EQ(s.arrivals, n);
    EXPECT_EQ(s.completions(), n);
    EXPECT_EQ(s.outcome(outcome), n)
        << metrics::OutcomeName(outcome) << " wanted; have " << OutcomesText(s);
    EXPECT_EQ(s.inflight(), 0);
  }

  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  testing::GrpcUpstream upstream_;
  std::unique_ptr<GrpcProxy> proxy_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

}  // namespace lagscale::proxy
