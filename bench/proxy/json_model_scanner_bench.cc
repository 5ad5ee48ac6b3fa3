// Cost of finding the model in an OpenAI chat body: a 1 MiB request with "model" last, scanned in
// 16 KiB pieces as the proxy reads them. Reported as bytes per second (MiB/s in the output); the
// issue's goal is a scan well under 5 % of the proxy's CPU on such a request.
#include <benchmark/benchmark.h>

#include <string>

#include "lagscale/proxy/json_model_scanner.h"
#include "lagscale/proxy/usage_scanner.h"

namespace lagscale::proxy {
namespace {

// 1 MiB of messages whose contents are `content` (a JSON string's inside), then the model.
std::string ChatBody(const std::string& content) {
  std::string body = R"({"messages":[)";
  while (body.size() < (1u << 20)) body += R"({"role":"user","content":")" + content + R"("},)";
  return body + R"({"role":"user","content":"end"}],"temperature":0.7,"model":"llama-3-70b"})";
}

// Short messages, escapes in every one.
std::string ShortMessages() {
  return ChatBody(
      R"(Summarise the following text. It has \"quotes\", escapes \n and \u00e9 accents, )"
      R"(and numbers 1, 2.5e3.)");
}

// Pasted documents: 8 KiB contents of prose.
std::string LongProse() {
  std::string text;
  while (text.size() < 8192) text += "The quick brown fox jumps over the lazy dog near the bank. ";
  return ChatBody(text);
}

// A long conversation: 1 KiB messages of prose, written with Python's json.dumps spacing (the
// body bench/llm/run.py sends through the sidecar).
std::string Conversation() {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "lorem ipsum dolor sit amet ";
  std::string body = R"({"messages": [)";
  while (body.size() < (1u << 20)) body += R"({"role": "user", "content": ")" + text + R"("}, )";
  return body + R"({"role": "user", "content": "end"}], "max_tokens": 1, "model": "chat"})";
}

// Pasted code: 8 KiB contents with an escaped newline every 40 bytes.
std::string LongCode() {
  std::string text;
  while (text.size() < 8192) text += R"(    for (int i = 0; i < n; ++i) x += i;\n)";
  return ChatBody(text);
}

void ScanModelLast(benchmark::State& state, const std::string& body) {
  constexpr size_t kPiece = 16 * 1024;
  for (auto _ : state) {
    JsonModelScanner s;
    for (size_t at = 0; at < body.size(); at += kPiece) {
      s.Feed(body.data() + at, std::min(kPiece, body.size() - at));
    }
    benchmark::DoNotOptimize(s.result());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
void BM_ModelLastInMebibyteChat(benchmark::State& state) { ScanModelLast(state, ShortMessages()); }
void BM_ModelLastInMebibyteOfProse(benchmark::State& state) { ScanModelLast(state, LongProse()); }
void BM_ModelLastInMebibyteOfCode(benchmark::State& state) { ScanModelLast(state, LongCode()); }
void BM_ModelLastInMebibyteConversation(benchmark::State& state) {
  ScanModelLast(state, Conversation());
}
BENCHMARK(BM_ModelLastInMebibyteChat);
BENCHMARK(BM_ModelLastInMebibyteOfProse);
BENCHMARK(BM_ModelLastInMebibyteOfCode);
BENCHMARK(BM_ModelLastInMebibyteConversation);

// A streamed answer: 1,000 token events then the usage event, as a server sends them.
void BM_UsageInEventStream(benchmark::State& state) {
  std::string stream;
  for (int i = 0; i < 1000; ++i) {
    stream += R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,)"
              R"("delta":{"content":" token"},"finish_reason":null}],"usage":null})"
              "\n\n";
  }
  stream +=
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1000}}\n\n"
      "data: [DONE]\n\n";
  for (auto _ : state) {
    UsageScanner s;
    s.Start(true);
    s.Feed(stream.data(), stream.size());
    benchmark::DoNotOptimize(s.completion_tokens());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_UsageInEventStream);

}  // namespace
}  // namespace lagscale::proxy
