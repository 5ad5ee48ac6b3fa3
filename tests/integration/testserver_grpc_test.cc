// lagscale-testserver's V2 gRPC service, run as a real process on loopback: the unary RPCs, infer
// sharing REST's queue, the bidirectional stream, and an independent gRPC implementation as a peer.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/command.h"
#include "support/test_server.h"

namespace {

using namespace lagscale::testing::testserver;
using lagscale::testing::CommandResult;
using lagscale::testing::Eventually;
using lagscale::testing::RunCommand;

TEST(TestServer, GrpcUnaryRpcsAnswer) {
  TestServer server({"--model", "iris:0"});
  auto stub = Stub(server.grpc());
  {
    grpc::ClientContext context;
    inference::ServerLiveResponse response;
    ASSERT_TRUE(stub->ServerLive(&context, {}, &response).ok());
    EXPECT_TRUE(response.live());
  }
  {
    grpc::ClientContext context;
    inference::ServerReadyResponse response;
    ASSERT_TRUE(stub->ServerReady(&context, {}, &response).ok());
    EXPECT_TRUE(response.ready());
  }
  {
    grpc::ClientContext context;
    inference::ServerMetadataResponse response;
    ASSERT_TRUE(stub->ServerMetadata(&context, {}, &response).ok());
    EXPECT_EQ(response.name(), "lagscale-testserver");
  }
  {
    grpc::ClientContext context;
    inference::ModelMetadataRequest request;
    request.set_name("iris");
    inference::ModelMetadataResponse response;
    ASSERT_TRUE(stub->ModelMetadata(&context, request, &response).ok());
    EXPECT_EQ(response.name(), "iris");
  }
  {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name("mnist");
    inference::ModelReadyResponse response;
    EXPECT_EQ(stub->ModelReady(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST(TestServer, GrpcModelInferEchoesAndQueues) {
  TestServer server({"--service-time-ms", "150", "--concurrency", "1"});
  auto stub = Stub(server.grpc());
  grpc::ClientContext context;
  inference::ModelInferResponse response;
  grpc::Status status = stub->ModelInfer(&context, GrpcInferRequest("iris", "g1"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "iris");
  EXPECT_EQ(response.id(), "g1");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "x");
  EXPECT_EQ(response.outputs(0).contents().fp32_contents(1), 2.5f);

  // gRPC shares REST's queue: two gRPC calls and one REST call are served one after another.
  auto start = Clock::now();
  std::vector<Clock::time_point> ends(3);
  std::vector<std::jthread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext call;
      inference::ModelInferResponse reply;
      EXPECT_TRUE(stub->ModelInfer(&call, GrpcInferRequest("iris", "q"), &reply).ok());
      ends[i] = Clock::now();
    });
  }
  threads.emplace_back([&] {
    EXPECT_EQ(Infer(server.http(), "iris").status, 200);
    ends[2] = Clock::now();
  });
  for (auto& thread : threads) thread.join();
  EXPECT_GE(MsSince(start, *std::max_element(ends.begin(), ends.end())), 450);
}

TEST(TestServer, GrpcStreamInferAnswersEachMessageInOrder) {
  TestServer server({"--service-time-ms", "30", "--concurrency", "2", "--model", "iris:30:2"});
  auto stub = Stub(server.grpc());
  grpc::ClientContext context;
  auto stream = stub->ModelStreamInfer(&context);
  constexpr int kMessages = 6;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Write(GrpcInferRequest("iris", "m" + std::to_string(i))));
  }
  ASSERT_TRUE(stream->Write(GrpcInferRequest("mnist", "unknown")));
  ASSERT_TRUE(stream->WritesDone());
  inference::ModelStreamInferResponse response;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Read(&response)) << i;
    EXPECT_EQ(response.error_message(), "");
    EXPECT_EQ(response.infer_response().id(), "m" + std::to_string(i));
    EXPECT_EQ(response.infer_response().outputs_size(), 1);
  }
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_NE(response.error_message().find("mnist"), std::string::npos);
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(State(server.http())["models"]["iris"]["served_total"], kMessages);
}

TEST(TestServer, PythonGrpcPeerCallsServerLive) {
  TestServer server({});
  // An independent gRPC implementation, with no generated code: raw bytes over a generic call.
  std::string script =
      "import grpc\n"
      "channel = grpc.insecure_channel('" +
      server.grpc() +
      "')\n"
      "live = channel.unary_unary('/inference.GRPCInferenceService/ServerLive')\n"
      "print(live(b'', timeout=10).hex())\n";
  const CommandResult python = RunCommand({"/usr/bin/python3", "-c", script});
  ASSERT_EQ(python.exit_code, 0) << python.all();
  EXPECT_EQ(python.all(), "0801\n");  // ServerLiveResponse{live: true}
}

}  // namespace
