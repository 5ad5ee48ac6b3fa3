// OpenAI-compatible traffic through the real lagscale-sidecar, as a client and an LLM server see
// it: the model comes from the JSON body, streamed answers reach the client event by event and stay
// in flight to their last byte, a client that leaves mid-stream cancels the upstream request, and
// /metrics and /stats show the exact tokens and time to first output per model.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/http_peers.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Reads one request with a Content-Length body; returns its head ("" on EOF) and fills `body`.
std::string ReadRequest(FakeConn& c, std::string* body) {
  const std::string head = c.ReadHead();
  if (head.empty()) return head;
  const std::string length = HeadValue(head, "content-length");
  if (!length.empty() && !c.ReadBody(std::stoull(length), body)) return {};
  return head;
}

std::string Chunk(std::string_view data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx", data.size());
  return std::string(size) + "\r\n" + std::string(data) + "\r\n";
}

std::string ChatRequest(const std::string& body, const std::string& extra_head = {},
                        const std::string& path = "/v1/chat/completions") {
  return "POST " + path + " HTTP/1.1\r\nHost: llm\r\nContent-Type: application/json\r\n" +
         extra_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string Event(int i) {
  return "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok" + std::to_string(i) +
         "\"}}],\"usage\":null}\n\n";
}

const std::string kUsageEvent =
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":5,"
    "\"total_tokens\":35}}\n\n";

// The value of the first sample of `series` whose labels contain `labels` in /metrics; -1 if none.
double MetricValue(const std::string& admin, const std::string& series, const std::string& labels) {
  const HttpResponse r = HttpGet(admin, "/metrics");
  size_t pos = 0;
  while ((pos = r.body.find("\n" + series + "{", pos)) != std::string::npos) {
    const size_t eol = r.body.find('\n', pos + 1);
    const std::string line = r.body.substr(pos + 1, eol - pos - 1);
    pos = eol;
    if (line.find(labels) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// Waits until `flag` is set (the test side of a hand-over with the fake upstream's thread).
bool WaitFor(const std::atomic<bool>& flag) {
  return Eventually([&] { return flag.load(); }, 10s);
}

TEST(OpenAiProxy, StreamedEventsArriveOneByOneAndCountToTheLastByte) {
  constexpr int kEvents = 5;
  constexpr auto kThinking = std::chrono::milliseconds(150);  // the model's time to first token
  std::atomic<bool> client_saw[kEvents] = {};
  std::atomic<bool> release_end{false};
  std::atomic<bool> body_ok{false};
  const std::string body =
      R"({"messages":[{"role":"user","content":"hi"}],"stream":true,)"
      R"("stream_options":{"include_usage":true},"model":"llama"})";
  FakeUpstream upstream([&](FakeConn& c) {
    std::string got;
    if (ReadRequest(c, &got).empty()) return;
    body_ok = got == body;
    c.Send(kStreamHead);
    std::this_thread::sleep_for(kThinking);  // service time, not synchronisation
    // Each event goes out only once the client has seen the one before: if the proxy held the
    // stream back, the client would never see event 0 and the test would fail.
    for (int i = 0; i < kEvents; ++i) {
      if (i > 0 && !WaitFor(client_saw[i - 1])) return;
      c.Send(Chunk(Event(i)));
    }
    c.Send(Chunk(kUsageEvent));
    c.Send(Chunk("data: [DONE]\n\n"));
    if (!WaitFor(release_end)) return;
    c.Send("0\r\n\r\n");
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  const auto sent = Clock::now();
  ASSERT_TRUE(client.Send(ChatRequest(body)));

  // Counted for its model while the answer streams.
  ASSERT_TRUE(
      Eventually([&] { return ModelValue(Stats(sidecar.admin), "llama", "inflight") == 1; }));
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(client.ReadUntil("tok" + std::to_string(i) + "\"")) << "event " << i;
    client_saw[i] = true;
  }
  const auto first_seen_bound = Clock::now();
  ASSERT_TRUE(client.ReadUntil("data: [DONE]"));
  // Every event and [DONE] are out, the chunked terminator is not: still in flight.
  auto stats = Stats(sidecar.admin);
  EXPECT_EQ(ModelValue(stats, "llama", "inflight"), 1) << stats.dump();
  EXPECT_EQ(ModelValue(stats, "llama", "completions"), 0);
  release_end = true;
  ASSERT_TRUE(client.ReadUntil("0\r\n\r\n"));
  EXPECT_TRUE(body_ok) << "the body reached the upstream unchanged";

  stats = SettledStats(sidecar.admin);
  EXPECT_EQ(ModelValue(stats, "llama", "arrivals"), 1);
  EXPECT_EQ(stats["models"]["llama"]["outcomes"]["success"], 1);
  EXPECT_EQ(ModelValue(stats, "llama", "prompt_tokens"), 30);
  EXPECT_EQ(ModelValue(stats, "llama", "completion_tokens"), 5);
  EXPECT_EQ(ModelValue(stats, "llama", "ttfb_count"), 1);
  // The upstream thought for kThinking before its first event, and the client had the first
  // event by first_seen_bound.
  const double ttfb = stats["models"]["llama"]["ttfb_seconds_sum"].get<double>();
  EXPECT_GE(ttfb, std::chrono::duration<double>(kThinking).count());
  EXPECT_LE(ttfb, std::chrono::duration<double>(first_seen_bound - sent).count());
  EXPECT_EQ(stats["unattributed"]["arrivals"], 0);

  const std::string model = "model=\"llama\"";
  EXPECT_EQ(MetricValue(sidecar.admin, "lagscale_model_tokens_total", model + ",kind=\"prompt\""),
            30);
  EXPECT_EQ(
      MetricValue(sidecar.admin, "lagscale_model_tokens_total", model + ",kind=\"completion\""), 5);
  EXPECT_EQ(MetricValue(sidecar.admin, "lagscale_model_time_to_first_byte_seconds_count", model),
            1);
  EXPECT_EQ(MetricValue(sidecar.admin, "lagscale_model_time_to_first_byte_seconds_bucket",
                        model + ",le=\"+Inf\""),
            1);
}

// A real OpenAI-style client: Python's http.client posts a streaming chat request and prints each
// event the moment it reads it.
constexpr char kPythonClient[] = R"(
import http.client, json, sys
host, port = sys.argv[1].rsplit(':', 1)
conn = http.client.HTTPConnection(host, int(port), timeout=30)
body = json.dumps({"model": "py-llm", "stream": True, "stream_options": {"include_usage": True},
                   "messages": [{"role": "user", "content": "hi"}]})
conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
response = conn.getresponse()
print("status", response.status, flush=True)
while True:
    line = response.readline()
    if not line:
        break
    line = line.decode().strip()
    if line.startswith("data: "):
        print("event", line[6:], flush=True)
print("end", flush=True)
)";

TEST(OpenAiProxy, PythonClientReadsEventsAsTheyAreGenerated) {
  constexpr int kEvents = 3;
  std::atomic<bool> client_saw[kEvents] = {};
  FakeUpstream upstream([&](FakeConn& c) {
    std::string got;
    if (ReadRequest(c, &got).empty()) return;
    c.Send(kStreamHead);
    for (int i = 0; i < kEvents; ++i) {
      if (i > 0 && !WaitFor(client_saw[i - 1])) return;  // the next token only once it was read
      c.Send(Chunk(Event(i)));
    }
    c.Send(Chunk(kUsageEvent) + Chunk("data: [DONE]\n\n") + "0\r\n\r\n");
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  auto client = ChildProcess::Start({"/usr/bin/python3", "-c", kPythonClient, sidecar.http});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->WaitForLine("status 200")) << client->stderr_text();
  for (int i = 0; i < kEvents; ++i) {
    const auto line = client->WaitForLine("event ");
    ASSERT_TRUE(line.has_value()) << "event " << i << " never reached the client\n"
                                  << client->stderr_text();
    EXPECT_NE(line->find("tok" + std::to_string(i)), std::string::npos) << *line;
    client_saw[i] = true;
  }
  ASSERT_TRUE(client->WaitForLine("event {\"choices\":[],\"usage\""));
  ASSERT_TRUE(client->WaitForLine("event [DONE]"));
  ASSERT_TRUE(client->WaitForLine("end"));
  EXPECT_EQ(client->Wait(), 0);
  const auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["py-llm"]["outcomes"]["success"], 1) << stats.dump();
  EXPECT_EQ(ModelValue(stats, "py-llm", "prompt_tokens"), 30);
  EXPECT_EQ(ModelValue(stats, "py-llm", "completion_tokens"), 5);
}

TEST(OpenAiProxy, ClientLeavingMidStreamIsAClientAbortAndCancelsTheUpstream) {
  std::atomic<bool> upstream_saw_close{false};
  FakeUpstream upstream([&](FakeConn& c) {
    std::string got;
    if (ReadRequest(c, &got).empty()) return;
    c.Send(kStreamHead + Chunk(Event(0)));
    upstream_saw_close = c.WaitClosed(30s);  // the stream would go on for as long as it stays open
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  {
    RawClient client(sidecar.http);
    ASSERT_TRUE(client.Send(ChatRequest(R"({"model":"llama","stream":true,"messages":[]})")));
    ASSERT_TRUE(client.ReadUntil("tok0"));
    EXPECT_EQ(ModelValue(Stats(sidecar.admin), "llama", "inflight"), 1);
  }  // the client closes its connection
  EXPECT_TRUE(WaitFor(upstream_saw_close)) << "the upstream connection was not closed";
  const auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["models"]["llama"]["outcomes"]["client_abort"], 1) << stats.dump();
  EXPECT_EQ(ModelValue(stats, "llama", "completions"), 1);
}

TEST(OpenAiProxy, MebibyteChatBodyWithTheModelLastIsAttributedAndForwardedWhole) {
  std::string body = R"({"messages":[)";
  while (body.size() < (1u << 20)) {
    body += R"({"role":"user","content":"a long conversation, \"quoted\" and \u00e9scaped"},)";
  }
  body += R"({"role":"user","content":"last"}],"temperature":0.2,"model":"big-llm"})";
  std::atomic<size_t> received{0};
  std::atomic<bool> same{false};
  FakeUpstream upstream([&](FakeConn& c) {
    std::string got;
    if (ReadRequest(c, &got).empty()) return;
    received = got.size();
    same = got == body;
    c.Send(OkResponse(R"({"id":"x","choices":[{"message":{"content":"ok"}}],)"
                      R"("usage":{"prompt_tokens":262144,"completion_tokens":1}})",
                      "Content-Type: application/json\r\n"));
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  ASSERT_TRUE(client.Send(ChatRequest(body)));
  const RawResponse r = client.Read();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(received.load(), body.size());
  EXPECT_TRUE(same);
  const auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(ModelValue(stats, "big-llm", "arrivals"), 1) << stats.dump();
  EXPECT_EQ(ModelValue(stats, "big-llm", "prompt_tokens"), 262144);
  EXPECT_EQ(ModelValue(stats, "big-llm", "completion_tokens"), 1);
  EXPECT_EQ(ModelValue(stats, "big-llm", "ttfb_count"), 1);
  EXPECT_EQ(stats["unattributed"]["arrivals"], 0);
}

// Answers every request on the connection with a small JSON body.
void JsonAnswers(FakeConn& c) {
  for (;;) {
    std::string body;
    if (ReadRequest(c, &body).empty()) return;
    if (!c.Send(OkResponse(R"({"usage":{"prompt_tokens":2,"completion_tokens":3}})"))) return;
  }
}

TEST(OpenAiProxy, HeadersWinInFlagOrderAndOtherRequestsAreUnattributed) {
  FakeUpstream upstream(JsonAnswers);
  SidecarProcess sidecar =
      StartSidecar(upstream.address(), {"--model-header", "seldon-model", "--model-header",
                                        "X-Gateway-Model-Name", "--openai-path", "/llm/generate"});
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  auto ask = [&](const std::string& request) {
    client.Send(request);
    return client.Read().status;
  };
  EXPECT_EQ(ask(ChatRequest(R"({"model":"in-body"})", "X-Gateway-Model-Name: gateway\r\n")), 200);
  EXPECT_EQ(ask(ChatRequest(R"({"model":"in-body"})",
                            "X-Gateway-Model-Name: gateway\r\nSeldon-Model: seldon\r\n")),
            200);
  EXPECT_EQ(ask(ChatRequest(R"({"model":"custom"})", "", "/llm/generate")), 200);
  EXPECT_EQ(ask(ChatRequest(R"({"model":"embedder","input":"x"})", "", "/openai/v1/embeddings")),
            200);
  EXPECT_EQ(ask(ChatRequest(R"({"prompt":"no model"})", "", "/v1/completions")), 200);
  EXPECT_EQ(ask(ChatRequest(R"({"model" "broken"})", "", "/v1/completions")), 200);
  // Known once the value has streamed by: what follows is not looked at.
  EXPECT_EQ(ask(ChatRequest(R"({"model":"early","x":)", "", "/v1/completions")), 200);
  EXPECT_EQ(ask(ChatRequest(R"({"model":"not an openai path"})", "", "/generate")), 200);
  const auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(ModelValue(stats, "gateway", "arrivals"), 1) << stats.dump();
  EXPECT_EQ(ModelValue(stats, "seldon", "arrivals"), 1);
  EXPECT_EQ(ModelValue(stats, "custom", "arrivals"), 1);
  EXPECT_EQ(ModelValue(stats, "embedder", "arrivals"), 1);
  EXPECT_EQ(ModelValue(stats, "early", "arrivals"), 1);
  EXPECT_EQ(ModelValue(stats, "in-body", "arrivals"), 0);
  EXPECT_EQ(stats["unattributed"]["arrivals"], 3);
  // Tokens count for OpenAI requests only (the /generate answer carries usage too).
  EXPECT_EQ(ModelValue(stats, "gateway", "prompt_tokens"), 2);
  EXPECT_EQ(stats["unattributed"]["prompt_tokens"], 4);
}

// The upstream answers before the body is complete (an early error): the request is counted
// unattributed when the answer starts and still ends exactly once.
TEST(OpenAiProxy, AnAnswerBeforeTheModelCountsTheRequestUnattributed) {
  FakeUpstream upstream([](FakeConn& c) {
    if (c.ReadHead().empty()) return;
    c.Send("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    c.WaitClosed(10s);
  });
  SidecarProcess sidecar = StartSidecar(upstream.address());
  ASSERT_TRUE(sidecar.ok());
  RawClient client(sidecar.http);
  ASSERT_TRUE(client.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: llm\r\n"
                          "Content-Length: 100000\r\n\r\n{\"messages\":["));
  EXPECT_EQ(client.Read().status, 413);
  const auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(stats["unattributed"]["arrivals"], 1) << stats.dump();
  EXPECT_EQ(stats["unattributed"]["outcomes"]["client_error"], 1);
}

}  // namespace
}  // namespace lagscale::testing
