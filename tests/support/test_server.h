#pragma once

// lagscale-testserver as the tests of its REST, gRPC and queue behaviour drive it: the real binary
// on OS-chosen ports, a Beast HTTP client that keeps the response headers, and V2 gRPC requests.
// Header-only: every integration test is a binary of its own.
// Thread safety: TestServer is not thread-safe; the free functions may run on any thread.

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
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

namespace lagscale::testing::testserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

inline double MsSince(Clock::time_point start, Clock::time_point end = Clock::now()) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// The real binary on OS-chosen ports, started with `args` (support/process.h).
class TestServer {
 public:
  explicit TestServer(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--http",      "127.0.0.1:0", "--grpc",
                                    "127.0.0.1:0", "--threads",   "2"};
    all.insert(all.end(), args.begin(), args.end());
    process_ = StartReady("lagscale-testserver", all, addresses_);
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

inline HttpReply Http(const std::string& address, http::verb verb, const std::string& target,
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

inline const std::string kInferBody =
    R"({"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]})";

inline HttpReply Infer(const std::string& address, const std::string& model,
                       const Headers& headers = {}) {
  return Http(address, http::verb::post, "/v2/models/" + model + "/infer", kInferBody, headers);
}

inline json State(const std::string& address) {
  return Http(address, http::verb::get, "/admin/state").Json();
}

// Runs `count` infer requests at once; returns each one's finish time.
inline std::vector<Clock::time_point> ConcurrentInfers(const std::string& address, int count,
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

inline std::unique_ptr<inference::GRPCInferenceService::Stub> Stub(const std::string& address) {
  return inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

inline inference::ModelInferRequest GrpcInferRequest(const std::string& model,
                                                     const std::string& id) {
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

}  // namespace lagscale::testing::testserver
