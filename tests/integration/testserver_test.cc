// lagscale-testserver, run as a real process on loopback: its V2 REST endpoints and errors, the
// test knobs other components' tests rely on, and its configuration by flags and environment.
// The capacity queue is in testserver_queue_test.cc, gRPC in testserver_grpc_test.cc.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "support/command.h"
#include "support/test_server.h"

namespace {

using namespace lagscale::testing::testserver;
using lagscale::testing::CommandResult;
using lagscale::testing::Eventually;
using lagscale::testing::RunShell;

TEST(TestServer, PrintsReadyLineWithRealPorts) {
  TestServer server({});
  EXPECT_EQ(server.http().rfind("127.0.0.1:", 0), 0u) << server.http();
  EXPECT_NE(server.http(), "127.0.0.1:0");
  EXPECT_NE(server.grpc(), "127.0.0.1:0");
  EXPECT_EQ(Http(server.http(), http::verb::get, "/v2/health/live").status, 200);
  EXPECT_EQ(Http(server.http(), http::verb::get, "/v2/health/ready").status, 200);
}

TEST(TestServer, RestInferEchoesInputsAsOutputs) {
  TestServer server({});
  HttpReply reply = Infer(server.http(), "iris");
  ASSERT_EQ(reply.status, 200) << reply.body;
  json body = reply.Json();
  EXPECT_EQ(body["model_name"], "iris");
  EXPECT_EQ(body["id"], "r1");
  ASSERT_EQ(body["outputs"].size(), 1u);
  EXPECT_EQ(body["outputs"][0]["name"], "x");
  EXPECT_EQ(body["outputs"][0]["shape"], json({2, 2}));
  EXPECT_EQ(body["outputs"][0]["data"], json::parse("[[1,2],[3,4]]"));

  HttpReply versioned =
      Http(server.http(), http::verb::post, "/v2/models/iris/versions/3/infer", kInferBody);
  EXPECT_EQ(versioned.Json()["model_version"], "3");
  HttpReply predict =
      Http(server.http(), http::verb::post, "/v1/models/iris:predict", R"({"instances":[[1,2]]})");
  EXPECT_EQ(predict.status, 200);
  EXPECT_EQ(predict.Json()["predictions"], json::parse("[[1,2]]"));
  EXPECT_EQ(Http(server.http(), http::verb::get, "/v2/models/iris").Json()["name"], "iris");
  EXPECT_EQ(Http(server.http(), http::verb::get, "/v2").Json()["name"], "lagscale-testserver");
}

TEST(TestServer, RestErrorsUseTheV2ErrorShape) {
  TestServer server({"--model", "iris:0"});
  auto expect_error = [](const HttpReply& reply, int status, const std::string& needle) {
    EXPECT_EQ(reply.status, status) << reply.body;
    json body = reply.Json();
    ASSERT_TRUE(body.is_object()) << reply.body;
    ASSERT_TRUE(body["error"].is_string()) << reply.body;
    EXPECT_NE(body["error"].get<std::string>().find(needle), std::string::npos) << reply.body;
  };
  const std::string& a = server.http();
  expect_error(Http(a, http::verb::post, "/v2/models/iris/infer", "{bad"), 400, "malformed JSON");
  expect_error(Http(a, http::verb::post, "/v2/models/iris/infer", R"({"inputs":[]})"), 400,
               "inputs");
  expect_error(Http(a, http::verb::post, "/v2/models/iris/infer",
                    R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1]}]})"),
               400, "3 elements");
  expect_error(Infer(a, "mnist"), 404, "mnist");
  expect_error(Http(a, http::verb::get, "/v2/models/mnist/ready"), 404, "mnist");
  expect_error(Http(a, http::verb::get, "/v2/models/iris/infer"), 405, "POST");
  expect_error(Http(a, http::verb::get, "/v3/nothing"), 404, "/v3/nothing");
  EXPECT_EQ(Http(a, http::verb::get, "/v2/models/iris/ready").status, 200);
}

TEST(TestServer, StatusAndDelayKnobs) {
  TestServer server({});
  const std::string& a = server.http();
  HttpReply failed = Infer(a, "iris", {{"x-test-status", "503"}});
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(failed.Json()["error"], "x-test-status 503");
  EXPECT_EQ(Infer(a, "iris", {{"x-test-status", "201"}}).status, 201);
  EXPECT_EQ(Infer(a, "iris", {{"x-test-status", "abc"}}).status, 400);
  auto start = Clock::now();
  EXPECT_EQ(Infer(a, "iris", {{"x-test-delay-ms", "300"}}).status, 200);
  EXPECT_GE(MsSince(start), 300);

  auto stub = Stub(server.grpc());
  grpc::ClientContext unavailable;
  unavailable.AddMetadata("x-test-status", "14");
  inference::ModelInferResponse response;
  EXPECT_EQ(stub->ModelInfer(&unavailable, GrpcInferRequest("iris", "k"), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext slow;
  slow.AddMetadata("x-test-delay-ms", "2000");
  slow.set_deadline(std::chrono::system_clock::now() + 200ms);
  EXPECT_EQ(stub->ModelInfer(&slow, GrpcInferRequest("iris", "k"), &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The abandoned call gives its slot back at once rather than after its 2 s of service.
  EXPECT_TRUE(Eventually([&] { return State(a)["models"]["iris"]["serving"] == 0; }, 1000ms));
  grpc::ClientContext bad;
  bad.AddMetadata("x-test-status", "99");
  inference::ServerLiveResponse live;
  EXPECT_EQ(stub->ServerLive(&bad, {}, &live).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(TestServer, GenerateStreamFlushesEventsOneByOne) {
  TestServer server({});
  net::io_context io;
  beast::tcp_stream stream(io);
  const std::string address = server.http();
  auto colon = address.rfind(':');
  stream.expires_after(10s);
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address(address.substr(0, colon)),
                                        std::stoi(address.substr(colon + 1))));
  http::request<http::string_body> request{http::verb::post, "/v2/models/iris/generate_stream", 11};
  request.set(http::field::host, address);
  request.set("x-test-chunks", "3");
  request.set("x-test-delay-ms", "150");
  request.body() = R"({"text_input":"hi"})";
  request.prepare_payload();
  http::write(stream, request);

  http::response_parser<http::string_body> parser;
  std::vector<std::pair<Clock::time_point, std::string>> events;
  auto on_chunk = [&](std::uint64_t, beast::string_view body, beast::error_code&) {
    events.emplace_back(Clock::now(), std::string(body));
    return body.size();
  };
  parser.on_chunk_body(on_chunk);
  beast::flat_buffer buffer;
  http::read_header(stream, buffer, parser);
  EXPECT_EQ(parser.get()[http::field::content_type], "text/event-stream");
  EXPECT_TRUE(parser.get().chunked());
  while (!parser.is_done()) http::read_some(stream, buffer, parser);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].second.rfind("data: {", 0), 0u);
  EXPECT_NE(events[2].second.find(R"("finished":true)"), std::string::npos);
  // Spaced by the delay: the events did not arrive in one write.
  EXPECT_GE(MsSince(events[0].first, events[2].first), 250);
}

TEST(TestServer, ServiceTimeZeroServesManyRequestsOnOneConnection) {
  TestServer server({});
  net::io_context io;
  beast::tcp_stream stream(io);
  const std::string address = server.http();
  auto colon = address.rfind(':');
  stream.expires_after(20s);
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address(address.substr(0, colon)),
                                        std::stoi(address.substr(colon + 1))));
  beast::flat_buffer buffer;
  auto start = Clock::now();
  constexpr int kRequests = 500;
  for (int i = 0; i < kRequests; ++i) {
    http::request<http::string_body> request{http::verb::post, "/v2/models/iris/infer", 11};
    request.set(http::field::host, address);
    request.body() = kInferBody;
    request.prepare_payload();
    http::write(stream, request);
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    ASSERT_EQ(response.result_int(), 200u);
    ASSERT_TRUE(response.keep_alive());
  }
  EXPECT_LT(MsSince(start), 5000);
  EXPECT_EQ(State(address)["models"]["iris"]["served_total"], kRequests);
}

TEST(TestServer, EnvironmentConfiguresLikeFlags) {
  setenv("LAGSCALE_MODEL", "iris:20,mnist:30:4", 1);
  setenv("LAGSCALE_REPLICAS", "2", 1);
  TestServer server({});
  unsetenv("LAGSCALE_MODEL");
  unsetenv("LAGSCALE_REPLICAS");
  json models = State(server.http())["models"];
  EXPECT_EQ(models["iris"]["service_time_ms"], 20);
  EXPECT_EQ(models["iris"]["replicas"], 2);
  EXPECT_EQ(models["mnist"]["service_time_ms"], 30);
  EXPECT_EQ(models["mnist"]["concurrency"], 4);
  EXPECT_EQ(models["mnist"]["capacity"], 8);
  EXPECT_EQ(Infer(server.http(), "resnet").status, 404);
}

TEST(TestServer, BadFlagsStopStartupNamingTheSetting) {
  std::string binary = std::string(LAGSCALE_BIN_DIR) + "/lagscale-testserver";
  auto run = [&](const std::string& args, int* code) {
    const CommandResult result = RunShell(binary + " " + args);
    *code = result.exit_code;
    return result.all();
  };
  int code = 0;
  EXPECT_NE(run("--help", &code).find("--service-time-ms"), std::string::npos);
  EXPECT_EQ(code, 0);
  EXPECT_NE(run("--version", &code).find("lagscale-testserver"), std::string::npos);
  EXPECT_EQ(code, 0);
  EXPECT_NE(run("--concurrency -3", &code).find("--concurrency"), std::string::npos);
  EXPECT_NE(code, 0);
  EXPECT_NE(run("--model iris", &code).find("--model iris"), std::string::npos);
  EXPECT_NE(code, 0);
  EXPECT_NE(run("--http nowhere:80", &code).find("--http nowhere:80"), std::string::npos);
  EXPECT_NE(code, 0);
  EXPECT_NE(run("--no-such-flag", &code).find("--no-such-flag"), std::string::npos);
  EXPECT_NE(code, 0);
}

}  // namespace
