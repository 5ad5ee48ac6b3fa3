// /metrics as a user sees it: exact values after a known mix of requests, promtool on a live
// scrape, and a real Prometheus server scraping the sidecar every second.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "support/prometheus.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// The value of the sample `name{...}` whose labels include every pair in `labels`; NaN if absent.
double Sample(const std::string& text, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    const size_t close = line.rfind('}');
    const std::string label_text = line.substr(name.size() + 1, close - name.size() - 1);
    bool all = true;
    for (const auto& [k, v] : labels) {
      if (label_text.find(k + "=\"" + v + "\"") == std::string::npos) all = false;
    }
    if (all) return std::stod(line.substr(close + 2));
  }
  return std::nan("");
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_ = StartReady("lagscale-testserver",
                           {"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--service-time-ms",
                            "0", "--model", "slow:300", "--model", "iris:0", "--model", "bert:0",
                            "--concurrency", "1000"},
                           upstream_addr_);
    ASSERT_NE(upstream_, nullptr);
    sidecar_ = StartReady("lagscale-sidecar",
                          {"--listen", "127.0.0.1:0", "--upstream", upstream_addr_["http"],
                           "--admin", "127.0.0.1:0", "--grpc-listen", "", "--threads", "2",
                           "--server-name", "mlserver", "--pod-name", "mlserver-0"},
                          sidecar_addr_);
    ASSERT_NE(sidecar_, nullptr);
  }

  std::string Scrape() {
    HttpResponse r = HttpGet(sidecar_addr_["admin"], "/metrics");
    EXPECT_EQ(r.status, 200) << r.error;
    return r.body;
  }

  HttpResponse Infer(const std::string& model, const std::map<std::string, std::string>& headers =
                                                   {}) {
    return Http("POST", sidecar_addr_["http"], "/v2/models/" + model + "/infer",
                R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1.0]}]})",
                headers);
  }

  std::unique_ptr<ChildProcess> upstream_, sidecar_;
  std::map<std::string, std::string> upstream_addr_, sidecar_addr_;
};

TEST_F(MetricsTest, EverySeriesEqualsWhatWasSent) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Infer("iris").status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Infer("iris", {{"x-test-status", "404"}}).status, 404);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Infer("bert", {{"x-test-status", "503"}}).status, 503);
  EXPECT_EQ(HttpGet(sidecar_addr_["http"], "/v2/health/ready").status, 200);  // no model

  // A client that gives up while the upstream works: sends a request to the slow model and closes.
  {
    boost::asio::io_context io;
    tcp::socket s(io);
    const std::string hp = sidecar_addr_["http"];
    s.connect(tcp::endpoint(boost::asio::ip::make_address(hp.substr(0, hp.rfind(':'))),
                            static_cast<unsigned short>(std::stoi(hp.substr(hp.rfind(':') + 1)))));
    const std::string body = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})";
    const std::string req = "POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    boost::asio::write(s, boost::asio::buffer(req));
    ASSERT_TRUE(Eventually([&] {
      return Sample(Scrape(), "lagscale_model_inflight_requests", {{"model", "slow"}}) == 1;
    }));
    s.close();
  }
  ASSERT_TRUE(Eventually([&] {
    const std::string t = Scrape();
    return Sample(t, "lagscale_model_inflight_requests", {{"model", "slow"}}) == 0 &&
           Sample(t, "lagscale_model_inflight_requests", {{"model", "iris"}}) == 0 &&
           Sample(t, "lagscale_model_inflight_requests", {{"model", "bert"}}) == 0 &&
           Sample(t, "lagscale_unattributed_inflight_requests", {}) == 0;
  }));

  const std::string text = Scrape();
  const std::map<std::string, std::string> iris{{"model", "iris"}}, bert{{"model", "bert"}};
  EXPECT_EQ(Sample(text, "lagscale_model_arrivals_total", iris), 8);
  EXPECT_EQ(Sample(text, "lagscale_model_completions_total",
                   {{"model", "iris"}, {"outcome", "success"}}),
            5);
  EXPECT_EQ(Sample(text, "lagscale_model_completions_total",
                   {{"model", "iris"}, {"outcome", "client_error"}}),
            3);
  EXPECT_EQ(Sample(text, "lagscale_model_completions_total",
                   {{"model", "bert"}, {"outcome", "server_error"}}),
            2);
  EXPECT_EQ(Sample(text, "lagscale_model_completions_total",
                   {{"model", "slow"}, {"outcome", "client_abort"}}),
            1);
  EXPECT_EQ(Sample(text, "lagscale_model_inflight_requests", iris), 0);
  EXPECT_EQ(Sample(text, "lagscale_model_request_duration_seconds_count", iris), 8);
  EXPECT_EQ(Sample(text, "lagscale_unattributed_arrivals_total", {}), 1);
  EXPECT_EQ(Sample(text, "lagscale_models_tracked", {{"server", "mlserver"}, {"pod", "mlserver-0"}}),
            3);
  EXPECT_GT(Sample(text, "lagscale_model_busy_seconds_total", {{"model", "slow"}}), 0);
  EXPECT_EQ(Sample(text, "lagscale_build_info", {}), 1);

  // promtool, Prometheus's own linter, finds nothing to say about a live scrape.
  const ScratchDir dir("live-scrape");
  const std::string path = dir.Path("metrics.txt");
  std::ofstream(path) << text;
  auto promtool = ChildProcess::Start({"/bin/sh", "-c", "promtool check metrics < " + path});
  ASSERT_NE(promtool, nullptr);
  EXPECT_EQ(promtool->Wait(30s), 0) << promtool->stderr_text();
  EXPECT_EQ(promtool->stderr_text(), "");
}

TEST_F(MetricsTest, UpstreamDownCountsUpstreamErrors) {
  const RefusingPort dead;
  std::map<std::string, std::string> addr;
  auto sidecar = StartReady("lagscale-sidecar",
                            {"--listen", "127.0.0.1:0", "--upstream", dead.address(), "--admin",
                             "127.0.0.1:0", "--grpc-listen", "", "--threads", "1"},
                            addr);
  ASSERT_NE(sidecar, nullptr);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Http("POST", addr["http"], "/v2/models/iris/infer", "{}").status, 502);
  }
  // The client can read the 502 a moment before the proxy's write completes and ends the request.
  std::string text;
  EXPECT_TRUE(Eventually([&] {
    text = HttpGet(addr["admin"], "/metrics").body;
    return Sample(text, "lagscale_model_completions_total",
                  {{"model", "iris"}, {"outcome", "upstream_error"}}) == 3;
  })) << text;
  EXPECT_GE(Sample(text, "lagscale_upstream_connect_failures_total", {}), 3);
}

// A real Prometheus scrapes the sidecar every second while the test drives a known concurrency
// against a slow model; Prometheus's own rate() of busy seconds reports that concurrency.
TEST_F(MetricsTest, PrometheusSeesTheConcurrencyItWasDriven) {
  const std::unique_ptr<Prometheus> prom = Prometheus::Start({sidecar_addr_["admin"]});
  ASSERT_NE(prom, nullptr);
  auto query = [&](const std::string& promql) { return prom->Query(promql); };

  // Four clients, each with one request always outstanding on a 300 ms model: concurrency 4.
  constexpr int kClients = 4;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) Infer("slow");
    });
  }
  const bool saw_lag = Eventually(
      [&] { return query("lagscale_model_inflight_requests{model=\"slow\"}") >= 3; }, 20s);
  const bool saw_rate = Eventually(
      [&] {
        const double c = query("rate(lagscale_model_busy_seconds_total{model=\"slow\"}[4s])");
        return c > kClients * 0.85 && c < kClients * 1.1;
      },
      30s);
  const double last = query("rate(lagscale_model_busy_seconds_total{model=\"slow\"}[4s])");
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(saw_lag) << "Prometheus never saw in-flight >= 3";
  EXPECT_TRUE(saw_rate) << "rate(busy_seconds) = " << last << ", driven concurrency " << kClients;
}

}  // namespace
}  // namespace lagscale::testing
