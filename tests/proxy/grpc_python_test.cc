// An independent gRPC implementation (Python's grpcio, Debian python3-grpcio) as the client of
// GrpcProxy: generic calls with raw bytes, no generated code on the Python side.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "inference/grpc_service.pb.h"
#include "lagscale/proxy/grpc_proxy.h"
#include "support/command.h"
#include "support/grpc_upstream.h"

namespace lagscale::proxy {
namespace {

constexpr const char* kScript = R"PY(
import sys, grpc
port, request = sys.argv[1], bytes.fromhex(sys.argv[2])
channel = grpc.insecure_channel("127.0.0.1:" + port)
infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
response, call = infer.with_call(request, metadata=[("x-echo", "py")], timeout=10)
print(response.hex())
print(dict(call.initial_metadata()).get("x-initial", "-"))
print(dict(call.trailing_metadata()).get("x-trailer", "-"))
try:
    infer(request, metadata=[("x-status", "5")], timeout=10)
    print("no error")
except grpc.RpcError as e:
    print(e.code().name, e.details())
)PY";

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// Once per engine.
class GrpcPythonClientTest : public ::testing::TestWithParam<GrpcProxyOptions::Engine> {};

TEST_P(GrpcPythonClientTest, PythonGrpcioCallsThroughTheProxyWithRawBytes) {
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/python3"));
  metrics::ModelTable table(10);
  metrics::Ledger ledger(table, 1);
  testing::GrpcUpstream upstream;
  GrpcProxyOptions options;
  options.listen = "127.0.0.1:0";
  options.upstream = upstream.address();
  options.engine = GetParam();
  GrpcProxy proxy(options, ledger, 0, 1);
  proxy.Start();

  const auto script = std::filesystem::temp_directory_path() /
                      ("lagscale-grpc-client-" + std::to_string(::getpid()) + ".py");
  std::ofstream(script) << kScript;
  inference::ModelInferRequest req;
  req.set_model_name("iris");
  req.set_id("py-1");
  const testing::CommandResult python =
      testing::RunCommand({"/usr/bin/python3", script.string(), std::to_string(proxy.port()),
                           Hex(req.SerializeAsString())});
  EXPECT_EQ(python.exit_code, 0) << python.all();
  const std::string& text = python.out;
  std::filesystem::remove(script);

  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 4u) << text;
  inference::ModelInferResponse resp;
  ASSERT_TRUE(resp.ParseFromString(FromHex(lines[0])));
  EXPECT_EQ(resp.model_name(), "iris");
  EXPECT_EQ(resp.id(), "py-1");
  EXPECT_EQ(lines[1], "py");
  EXPECT_EQ(lines[2], "py");
  EXPECT_EQ(lines[3], "NOT_FOUND status from upstream");

  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (proxy.active_calls() != 0 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto snap = ledger.Snapshot();
  ASSERT_EQ(snap.models.size(), 1u);
  const auto& s = snap.models[0].second;
  EXPECT_EQ(s.arrivals, 2u);
  EXPECT_EQ(s.outcome(metrics::Outcome::kSuccess), 1u);
  EXPECT_EQ(s.outcome(metrics::Outcome::kClientError), 1u);
  EXPECT_EQ(s.inflight(), 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, GrpcPythonClientTest,
                         ::testing::Values(GrpcProxyOptions::Engine::kCalls,
                                           GrpcProxyOptions::Engine::kFrames),
                         [](const auto& info) {
                           return info.param == GrpcProxyOptions::Engine::kCalls ? "Calls"
                                                                                 : "Frames";
                         });

}  // namespace
}  // namespace lagscale::proxy
