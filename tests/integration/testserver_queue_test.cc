// lagscale-testserver's capacity queue, run as a real process on loopback: requests beyond capacity
// wait, /admin/scale lets them proceed, the queue limit rejects, and a client that gives up (REST
// or gRPC) leaves the queue.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/test_server.h"

namespace {

using namespace lagscale::testing::testserver;
using lagscale::testing::Eventually;

TEST(TestServer, RequestsBeyondCapacityWaitInTheQueue) {
  TestServer server({"--service-time-ms", "200", "--concurrency", "1"});
  auto start = Clock::now();
  std::vector<int> statuses;
  auto ends = ConcurrentInfers(server.http(), 3, &statuses);
  EXPECT_EQ(statuses, std::vector<int>({200, 200, 200}));
  // One at a time: the k-th answer cannot come before k service times.
  EXPECT_GE(MsSince(start, ends[0]), 200);
  EXPECT_GE(MsSince(start, ends[1]), 400);
  EXPECT_GE(MsSince(start, ends[2]), 600);
  EXPECT_EQ(State(server.http())["models"]["iris"]["served_total"], 3);
}

TEST(TestServer, AdminScaleLetsQueuedRequestsProceed) {
  TestServer server({"--service-time-ms", "1000", "--concurrency", "1"});
  const std::string address = server.http();
  std::vector<int> statuses;
  std::vector<Clock::time_point> ends;
  auto start = Clock::now();
  std::jthread load([&] { ends = ConcurrentInfers(address, 4, &statuses); });
  ASSERT_TRUE(Eventually([&] { return State(address)["models"]["iris"]["queued"] == 3; }));
  json state = State(address)["models"]["iris"];
  EXPECT_EQ(state["serving"], 1);
  EXPECT_EQ(state["inflight"], 4);

  HttpReply scaled =
      Http(address, http::verb::post, "/admin/scale",
           R"({"kind":"model","name":"iris","server":"mlserver","namespace":"default",
                              "from":1,"to":4,"reason":"test","time_unix_ms":1764300000000})");
  auto scaled_at = Clock::now();
  ASSERT_EQ(scaled.status, 200) << scaled.body;
  EXPECT_EQ(scaled.Json()["models"]["iris"]["replicas"], 4);
  EXPECT_TRUE(Eventually([&] { return State(address)["models"]["iris"]["serving"] == 4; }));
  load.join();
  EXPECT_EQ(statuses, std::vector<int>({200, 200, 200, 200}));
  // Without the scale-up the last answer would come 4 service times after the start.
  EXPECT_LT(MsSince(scaled_at, ends.back()), 1900);
  EXPECT_LT(MsSince(start, ends.back()), 3500);
  EXPECT_EQ(State(address)["models"]["iris"]["served_total"], 4);
}

TEST(TestServer, AdminScaleValidatesTheWebhookPayload) {
  TestServer server({"--model", "iris:0:2"});
  const std::string& a = server.http();
  auto scale = [&](const std::string& body) {
    return Http(a, http::verb::post, "/admin/scale", body);
  };
  HttpReply missing = scale(R"({"kind":"model","name":"iris"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.Json()["error"].get<std::string>().find("to"), std::string::npos);
  EXPECT_EQ(scale(R"({"kind":"pod","name":"iris","to":2})").status, 400);
  EXPECT_EQ(scale(R"({"kind":"model","name":"iris","to":-1})").status, 400);
  EXPECT_EQ(scale(R"({"kind":"model","name":"iris","to":2,"from":"one"})").status, 400);
  EXPECT_EQ(scale("not json").status, 400);
  EXPECT_EQ(scale(R"({"kind":"model","name":"mnist","to":2})").status, 404);

  HttpReply server_scaled =
      scale(R"({"kind":"server","name":"mlserver","server":"mlserver","from":1,"to":3})");
  ASSERT_EQ(server_scaled.status, 200);
  json state = State(a);
  EXPECT_EQ(state["server_replicas"], 3);
  EXPECT_EQ(state["models"]["iris"]["replicas"], 1);
  EXPECT_EQ(state["models"]["iris"]["concurrency"], 2);
  for (const char* key : {"serving", "queued", "served_total"}) {
    EXPECT_TRUE(state["models"]["iris"][key].is_number_integer()) << key;
  }
}

TEST(TestServer, QueueLimitRejectsWith503AndResourceExhausted) {
  TestServer server({"--service-time-ms", "800", "--concurrency", "1", "--queue-limit", "1"});
  const std::string address = server.http();
  std::vector<int> statuses;
  std::jthread load([&] { ConcurrentInfers(address, 2, &statuses); });
  ASSERT_TRUE(Eventually([&] { return State(address)["models"]["iris"]["queued"] == 1; }));
  auto start = Clock::now();
  HttpReply rejected = Infer(address, "iris");
  EXPECT_EQ(rejected.status, 503);
  EXPECT_LT(MsSince(start), 500);  // rejected at once, not after waiting
  grpc::ClientContext context;
  inference::ModelInferResponse response;
  grpc::Status status =
      Stub(server.grpc())->ModelInfer(&context, GrpcInferRequest("iris", "g"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  load.join();
  EXPECT_EQ(statuses, std::vector<int>({200, 200}));
}

TEST(TestServer, RestClientHangingUpLeavesTheQueue) {
  TestServer server({"--service-time-ms", "5000", "--concurrency", "1"});
  const std::string address = server.http();
  auto colon = address.rfind(':');
  net::ip::tcp::endpoint endpoint(net::ip::make_address(address.substr(0, colon)),
                                  std::stoi(address.substr(colon + 1)));
  net::io_context io;
  std::vector<std::unique_ptr<net::ip::tcp::socket>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<net::ip::tcp::socket>(io));
    clients.back()->connect(endpoint);
    http::request<http::string_body> request{http::verb::post, "/v2/models/iris/infer", 11};
    request.set(http::field::host, address);
    request.body() = kInferBody;
    request.prepare_payload();
    http::write(*clients.back(), request);
    // The first request takes the only slot; the other two queue behind it.
    if (i == 0) {
      ASSERT_TRUE(Eventually([&] { return State(address)["models"]["iris"]["serving"] == 1; }));
    }
  }
  ASSERT_TRUE(Eventually([&] { return State(address)["models"]["iris"]["queued"] == 2; }));
  clients[1]->close();
  clients[2]->close();
  EXPECT_TRUE(Eventually([&] { return State(address)["models"]["iris"]["queued"] == 0; }, 2000ms));
  EXPECT_EQ(State(address)["models"]["iris"]["serving"], 1);
}

TEST(TestServer, GrpcCancelledCallsLeaveTheQueue) {
  TestServer server({"--service-time-ms", "3000", "--concurrency", "1"});
  auto stub = Stub(server.grpc());
  auto call = [&](std::chrono::milliseconds timeout) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    inference::ModelInferResponse response;
    return stub->ModelInfer(&context, GrpcInferRequest("iris", "c"), &response).error_code();
  };
  std::jthread serving([&] { EXPECT_EQ(call(400ms), grpc::StatusCode::DEADLINE_EXCEEDED); });
  std::jthread queued([&] { EXPECT_EQ(call(300ms), grpc::StatusCode::DEADLINE_EXCEEDED); });
  serving.join();
  queued.join();
  EXPECT_TRUE(Eventually(
      [&] {
        json state = State(server.http())["models"]["iris"];
        return state["serving"] == 0 && state["queued"] == 0;
      },
      1000ms));
  // The stream: a cancelled stream ends without waiting for its messages' service.
  grpc::ClientContext context;
  auto stream = stub->ModelStreamInfer(&context);
  ASSERT_TRUE(stream->Write(GrpcInferRequest("iris", "s1")));
  ASSERT_TRUE(stream->Write(GrpcInferRequest("iris", "s2")));
  ASSERT_TRUE(Eventually([&] { return State(server.http())["models"]["iris"]["queued"] == 1; }));
  auto start = Clock::now();
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually(
      [&] {
        json state = State(server.http())["models"]["iris"];
        return state["serving"] == 0 && state["queued"] == 0;
      },
      1000ms));
  EXPECT_LT(MsSince(start), 1500);
}

}  // namespace
