// LLM traffic through the whole stack, as a platform team would run it: lagscale-testserver's
// OpenAI-compatible endpoints behind a real lagscale-sidecar that reports to a real
// lagscale-coordinator. The coordinator's /status must show the model's exact token totals (the
// same as the sidecar's ledger and the answers' usage), a time to first byte that matches the
// server's configured delay, and a token rate.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

constexpr int kRequests = 12;
constexpr int kTokens = 20;           // completion tokens per answer
constexpr double kFirstToken = 0.08;  // seconds before the first token

constexpr char kConfig[] = R"(reportTTL: 5s
decisionInterval: 200ms
windows: [10s]
defaults:
  minReplicas: 1
  maxReplicas: 8
  targetConcurrency: 1
)";

// The `data:` payloads of a whole (already de-chunked) server-sent-events body, in order.
std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  }
  return out;
}

class LlmStack : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(config_) << kConfig;
    std::map<std::string, std::string> a;
    server_ = StartReady("lagscale-testserver",
                         {"--http", "127.0.0.1:0", "--grpc", "", "--threads", "2", "--llm-model",
                          "llama:80:5:" + std::to_string(kTokens)},
                         a);
    ASSERT_TRUE(server_);
    const std::string upstream = a["http"];
    coordinator_ = StartReady("lagscale-coordinator",
                              {"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                               "--config", config_, "--log-level", "warn"},
                              a);
    ASSERT_TRUE(coordinator_);
    coordinator_http_ = a["http"];
    sidecar_ =
        StartReady("lagscale-sidecar",
                   {"--listen", "127.0.0.1:0", "--upstream", upstream, "--admin", "127.0.0.1:0",
                    "--grpc-listen", "", "--server-name", "vllm", "--pod-name", "vllm-0",
                    "--coordinator", a["grpc"], "--report-interval", "200ms"},
                   a);
    ASSERT_TRUE(sidecar_);
    sidecar_http_ = a["http"];
    sidecar_admin_ = a["admin"];
  }

  // One streamed chat completion with usage; returns the usage the answer reported.
  json StreamedChat() {
    const json body = {{"messages", {{{"role", "user"}, {"content", "tell me about tokens"}}}},
                       {"model", "llama"},
                       {"stream", true},
                       {"stream_options", {{"include_usage", true}}}};
    const HttpResponse r = Http("POST", sidecar_http_, "/v1/chat/completions", body.dump(),
                                {{"content-type", "application/json"}});
    EXPECT_EQ(r.status, 200) << r.error;
    json usage;
    for (const std::string& data : SseData(r.body)) {
      if (data == "[DONE]") break;
      const json event = json::parse(data, nullptr, false);
      if (event.is_object() && event.contains("usage") && event["usage"].is_object()) {
        usage = event["usage"];
      }
    }
    return usage;
  }

  json Llama() {
    const HttpResponse r = HttpGet(coordinator_http_, "/status/models/llama");
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  }

  const ScratchDir dir_{"llm"};
  const std::string config_ = dir_.Path("config.yaml");
  std::string coordinator_http_, sidecar_http_, sidecar_admin_;
  std::unique_ptr<ChildProcess> server_, coordinator_, sidecar_;
};

TEST_F(LlmStack, CoordinatorShowsExactTokensAndTheFirstByteTime) {
  std::vector<std::future<json>> calls;
  for (int i = 0; i < kRequests; ++i) {
    calls.push_back(std::async(std::launch::async, [this] { return StreamedChat(); }));
  }
  uint64_t prompt = 0, completion = 0;
  for (auto& call : calls) {
    const json usage = call.get();
    ASSERT_TRUE(usage.is_object()) << "the stream carried no usage event";
    prompt += usage["prompt_tokens"].get<uint64_t>();
    completion += usage["completion_tokens"].get<uint64_t>();
  }
  EXPECT_EQ(completion, uint64_t{kRequests} * kTokens);

  json llama;
  ASSERT_TRUE(Eventually([&] {
    llama = Llama();
    return llama.is_object() && llama.value("completions_total", 0) == kRequests &&
           llama["llm"].is_object() && llama["llm"]["completion_tokens_total"] == completion;
  })) << llama.dump();
  const json& llm = llama["llm"];
  EXPECT_EQ(llm["prompt_tokens_total"], prompt);
  EXPECT_GT(llm["completion_tokens_per_second"].get<double>(), 0);
  const json& first = llm["time_to_first_byte"];
  EXPECT_EQ(first["count"], kRequests);
  // The server waits 80 ms before the first token; the sidecar's histogram buckets around it are
  // (50 ms, 100 ms] and (100 ms, 250 ms], so the median lies in one of them.
  EXPECT_GE(first["p50_seconds"].get<double>(), 0.05);
  EXPECT_LE(first["p50_seconds"].get<double>(), 0.25);
  EXPECT_GE(first["p99_seconds"].get<double>(), first["p50_seconds"].get<double>());

  // The sidecar's own ledger agrees with what the coordinator shows.
  const json stats = json::parse(HttpGet(sidecar_admin_, "/stats").body, nullptr, false);
  const json& mine = stats["models"]["llama"];
  EXPECT_EQ(mine["prompt_tokens"], prompt);
  EXPECT_EQ(mine["completion_tokens"], completion);
  EXPECT_EQ(mine["ttfb_count"], kRequests);

  // A model with no LLM traffic shows no LLM block.
  const json all = json::parse(HttpGet(coordinator_http_, "/status").body, nullptr, false);
  for (const json& m : all["models"]) {
    if (m["name"] != "llama") {
      EXPECT_TRUE(m["llm"].is_null()) << m["name"];
    }
  }
}

}  // namespace
}  // namespace lagscale::testing
