// lagscale-testserver, run as a real process on loopback: V2 REST and gRPC, the capacity queue,
// /admin/scale and the test knobs other components' tests rely on.
// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "support/process.h"

// GCC 12 under ASan/UBSan reports maybe-uninitialized inside Beast's parser (a false positive in a
// third-party header); the rest of this file keeps every warning.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

double MsSince(Clock::time_point start, Clock::time_point end = Clock::now()) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

using lagscale::testing::ChildProcess;
using lagscale::testing::Eventually;

// The real binary on OS-chosen ports, started with `args` (support/process.h).
class TestServer {
 public:
  explicit TestServer(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--http",      "127.0.0.1:0", "--grpc",
                                    "127.0.0.1:0", "--threads",   "2"};
    all.insert(all.end(), args.begin(), args.end());
    process_ = lagscale::testing::StartReady("lagscale-testserver", all, addresses_);
  }
  std::string http() const { return Address("http"); }
  std::string grpc() const { return Address("grpc"); }

 private:
  std::string Address(const std::string& key) const {
    const auto it = addresses_.find(key);
    return it == addresses_.end() ? "" : it->second;
  }
  std::unique_ptr<ChildProcess> process_;
  std::map<std::string, std::string> addresses_;
};

struct HttpReply {
  int status = 0;
  std::string body;
  http::fields headers;
  json Json() const { return json::parse(body, nullptr, false); }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

HttpReply Http(const std::string& address, http::verb verb, const std::string& target,
               const std::string& body = "", const Headers& headers = {}) {
  net::io_context io;
  beast::tcp_stream stream(io);
  auto colon = address.rfind(':');
  net::ip::tcp::endpoint endpoint(
      net::ip::make_address(address.substr(0, colon)),
      static_cast<unsigned short>(std::stoi(address.substr(colon + 1))));
  stream.expires_after(10s);
  stream.connect(endpoint);
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, address);
  for (const auto& [name, value] : headers) request.set(name, value);
  if (verb == http::verb::post) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return HttpReply{static_cast<int>(response.result_int()), response.body(), response.base()};
}

const std::string kInferBody =
    R"({"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]})";

HttpReply Infer(const std::string& address, const std::string& model, const Headers& headers = {}) {
  return Http(address, http::verb::post, "/v2/models/" + model + "/infer", kInferBody, headers);
}

json State(const std::string& address) {
  return Http(address, http::verb::get, "/admin/state").Json();
}

// Runs `count` infer requests at once; returns each one's finish time.
std::vector<Clock::time_point> ConcurrentInfers(const std::string& address, int count,
                                                std::vector<int>* statuses) {
  std::vector<Clock::time_point> ends(count);
  statuses->assign(count, 0);
  std::vector<std::jthread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      (*statuses)[i] = Infer(address, "iris").status;
      ends[i] = Clock::now();
    });
  }
  for (auto& thread : threads) thread.join();
  std::sort(ends.begin(), ends.end());
  return ends;
}

std::unique_ptr<inference::GRPCInferenceService::Stub> Stub(const std::string& address) {
  return inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

inference::ModelInferRequest GrpcInferRequest(const std::string& model, const std::string& id) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_id(id);
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(2);
  input->mutable_contents()->add_fp32_contents(1.5);
  input->mutable_contents()->add_fp32_contents(2.5);
  return request;
}

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
  std::string command = "/usr/bin/python3 -c \"" + script + "\" 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char chunk[256];
  while (fgets(chunk, sizeof chunk, pipe) != nullptr) output += chunk;
  int status = pclose(pipe);
  ASSERT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_EQ(output, "0801\n");  // ServerLiveResponse{live: true}
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
    FILE* pipe = popen((binary + " " + args + " 2>&1").c_str(), "r");
    std::string output;
    char chunk[256];
    while (pipe != nullptr && fgets(chunk, sizeof chunk, pipe) != nullptr) output += chunk;
    *code = pipe == nullptr ? -1 : WEXITSTATUS(pclose(pipe));
    return output;
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
