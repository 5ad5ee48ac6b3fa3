// lagscale-testserver's OpenAI-compatible endpoints, run as a real process on loopback: the plain
// and streamed answers' shapes, tokens arriving one by one at the token time, usage only when
// asked, the errors, the capacity model, a client hanging up mid-stream, and the configuration.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/command.h"
#include "support/http_peers.h"
#include "support/process.h"
#include "support/sse_stream.h"

namespace lagscale::testing {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

struct Server {
  std::unique_ptr<ChildProcess> process;
  std::string http;
};

Server StartServer(const std::vector<std::string>& flags,
                   const std::vector<std::string>& env = {}) {
  std::vector<std::string> args = {"--http", "127.0.0.1:0", "--grpc", "", "--threads", "2"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::map<std::string, std::string> addresses;
  Server server;
  server.process = StartReady("lagscale-testserver", args, addresses, env);
  server.http = addresses["http"];
  return server;
}

HttpResponse Post(const std::string& address, const std::string& path, const json& body,
                  const std::map<std::string, std::string>& headers = {}) {
  auto all = headers;
  all["content-type"] = "application/json";
  return Http("POST", address, path, body.dump(), all);
}

json Chat(const std::string& model, json extra = json::object()) {
  json body = {{"messages",
                {{{"role", "system"}, {"content", "be brief"}},
                 {{"role", "user"}, {"content", "what is  a\ttoken?"}}}},  // 6 words
               {"model", model}};  // "model" after "messages", as common SDKs send it
  body.update(extra);
  return body;
}

json ModelState(const std::string& address, const std::string& model) {
  return json::parse(HttpGet(address, "/admin/state").body, nullptr, false)["models"][model];
}

TEST(TestServerOpenAi, ChatCompletionAnswersWithEveryTokenAndUsage) {
  Server server = StartServer({"--llm-model", "chat:60:10:5"});
  ASSERT_NE(server.process, nullptr);
  auto start = Clock::now();
  HttpResponse reply = Post(server.http, "/v1/chat/completions", Chat("chat"));
  ASSERT_EQ(reply.status, 200) << reply.body;
  // The first token after 60 ms, four more 10 ms apart.
  EXPECT_GE(MsBetween(start, Clock::now()), 100);
  EXPECT_EQ(reply.headers["content-type"], "application/json");
  json body = json::parse(reply.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_TRUE(body["created"].is_number_integer());
  EXPECT_EQ(body["model"], "chat");
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["index"], 0);
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3 tok4");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"],
            json({{"prompt_tokens", 6}, {"completion_tokens", 5}, {"total_tokens", 11}}));
}

TEST(TestServerOpenAi, CompletionsAnswerTextAndMaxTokensCapsTheOutput) {
  Server server = StartServer({"--llm-model", "base:0:0:8"});
  ASSERT_NE(server.process, nullptr);
  for (const char* path : {"/v1/completions", "/openai/v1/completions"}) {
    HttpResponse reply = Post(server.http, path,
                              {{"model", "base"}, {"prompt", "one two three"}, {"max_tokens", 3}});
    ASSERT_EQ(reply.status, 200) << path << reply.body;
    json body = json::parse(reply.body);
    EXPECT_EQ(body["object"], "text_completion");
    EXPECT_EQ(body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
    EXPECT_EQ(body["choices"][0]["text"], "tok0 tok1 tok2");
    EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(body["usage"],
              json({{"prompt_tokens", 3}, {"completion_tokens", 3}, {"total_tokens", 6}}));
  }
  // Prompts as token ids; a max_tokens above the output length changes nothing.
  HttpResponse ids =
      Post(server.http, "/v1/completions",
           {{"model", "base"}, {"prompt", json::array({1, 2, 3, 4})}, {"max_tokens", 100}});
  ASSERT_EQ(ids.status, 200) << ids.body;
  EXPECT_EQ(json::parse(ids.body)["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(json::parse(ids.body)["usage"]["completion_tokens"], 8);
  EXPECT_EQ(json::parse(ids.body)["choices"][0]["finish_reason"], "stop");
  // Chat takes the newer max_completion_tokens too, under /openai as well.
  HttpResponse chat = Post(server.http, "/openai/v1/chat/completions",
                           Chat("base", {{"max_completion_tokens", 2}}));
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(json::parse(chat.body)["choices"][0]["message"]["content"], "tok0 tok1");
}

TEST(TestServerOpenAi, StreamedTokensArriveOneByOneAtTheTokenTime) {
  Server server = StartServer({"--llm-model", "chat:150:80:5"});
  ASSERT_NE(server.process, nullptr);
  Socket socket = Socket::Connect(server.http);
  ASSERT_TRUE(socket.ok());
  auto sent = Clock::now();
  ASSERT_TRUE(socket.Send(
      PostJsonBytes(server.http, "/v1/chat/completions", Chat("chat", {{"stream", true}}))));
  StreamReader reader(socket);
  StreamReply reply = reader.Read();
  ASSERT_TRUE(reply.complete) << reply.head;
  EXPECT_NE(reply.head.find("Content-Type: text/event-stream"), std::string::npos) << reply.head;
  EXPECT_NE(reply.head.find("Transfer-Encoding: chunked"), std::string::npos) << reply.head;
  ASSERT_EQ(reply.events.size(), 6u);  // five tokens, then [DONE]
  EXPECT_EQ(reply.events.back().data, "[DONE]");

  std::string content;
  for (int i = 0; i < 5; ++i) {
    json chunk = reply.events[i].Json();
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], reply.events[0].Json()["id"]);
    EXPECT_EQ(chunk["model"], "chat");
    EXPECT_FALSE(chunk.contains("usage")) << "usage was not asked for";
    ASSERT_EQ(chunk["choices"].size(), 1u);
    content += chunk["choices"][0]["delta"]["content"].get<std::string>();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"], i == 4 ? json("stop") : json(nullptr));
  }
  EXPECT_EQ(reply.events[0].Json()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(content, "tok0 tok1 tok2 tok3 tok4");

  // Token i is due 150 + 80 i ms after the request, and none arrived before it was due; the
  // first arrived before the last was even due: the events were not held back and sent together.
  for (int i = 0; i < 5; ++i) {
    EXPECT_GE(MsBetween(sent, reply.events[i].at), 150 + 80 * i - 5) << "event " << i;
  }
  EXPECT_LT(MsBetween(sent, reply.events[0].at), 150 + 80 * 4);

  // The connection stays open for the next request.
  ASSERT_TRUE(socket.Send(PostJsonBytes(server.http, "/v1/chat/completions",
                                        Chat("chat", {{"stream", true}, {"max_tokens", 1}}))));
  StreamReply again = reader.Read();
  EXPECT_TRUE(again.complete);
  EXPECT_EQ(again.events.size(), 2u);
}

TEST(TestServerOpenAi, StreamEndsWithUsageOnlyWhenAsked) {
  Server server = StartServer({"--llm-model", "chat:0:5:4", "--llm-model", "base:0:5:6"});
  ASSERT_NE(server.process, nullptr);
  Socket chat_socket = Socket::Connect(server.http);
  ASSERT_TRUE(chat_socket.Send(PostJsonBytes(
      server.http, "/v1/chat/completions",
      Chat("chat", {{"stream", true}, {"stream_options", {{"include_usage", true}}}}))));
  StreamReply chat = StreamReader(chat_socket).Read();
  ASSERT_TRUE(chat.complete);
  ASSERT_EQ(chat.events.size(), 6u);  // four tokens, usage, [DONE]
  for (int i = 0; i < 4; ++i) {
    json chunk = chat.events[i].Json();
    EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null()) << chat.events[i].data;
  }
  json usage = chat.events[4].Json();
  EXPECT_EQ(usage["object"], "chat.completion.chunk");
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"],
            json({{"prompt_tokens", 6}, {"completion_tokens", 4}, {"total_tokens", 10}}));
  EXPECT_EQ(chat.events[5].data, "[DONE]");

  Socket base_socket = Socket::Connect(server.http);
  ASSERT_TRUE(base_socket.Send(PostJsonBytes(server.http, "/openai/v1/completions",
                                             {{"model", "base"},
                                              {"prompt", json::array({"a b", "c"})},
                                              {"stream", true},
                                              {"max_tokens", 2},
                                              {"stream_options", {{"include_usage", true}}}})));
  StreamReply base = StreamReader(base_socket).Read();
  ASSERT_TRUE(base.complete);
  ASSERT_EQ(base.events.size(), 4u);  // two tokens, usage, [DONE]
  EXPECT_EQ(base.events[0].Json()["object"], "text_completion");
  EXPECT_EQ(base.events[1].Json()["choices"][0]["text"], " tok1");
  EXPECT_EQ(base.events[1].Json()["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(base.events[2].Json()["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(base.events[2].Json()["usage"]["completion_tokens"], 2);
  EXPECT_EQ(base.events[3].data, "[DONE]");
}

TEST(TestServerOpenAi, ErrorsUseTheOpenAiErrorShape) {
  Server server = StartServer({"--llm-model", "chat:0:0:3"});
  ASSERT_NE(server.process, nullptr);
  auto expect_error = [](const HttpResponse& reply, int status, const std::string& type,
                         const json& code) {
    EXPECT_EQ(reply.status, status) << reply.body;
    json body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.contains("error")) << reply.body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << reply.body;
    EXPECT_EQ(body["error"]["type"], type) << reply.body;
    EXPECT_EQ(body["error"]["code"], code) << reply.body;
  };
  const std::string& a = server.http;
  expect_error(Post(a, "/v1/chat/completions", Chat("gpt-none")), 404, "invalid_request_error",
               "model_not_found");
  expect_error(Post(a, "/v1/completions", {{"prompt", "no model"}}), 404, "invalid_request_error",
               "model_not_found");
  HttpResponse bad_json = Http("POST", a, "/v1/chat/completions", R"({"model":"chat",)",
                               {{"content-type", "application/json"}});
  expect_error(bad_json, 400, "invalid_request_error", nullptr);
  expect_error(Post(a, "/v1/chat/completions", {{"model", "chat"}}), 400, "invalid_request_error",
               nullptr);  // no messages
  expect_error(Post(a, "/v1/chat/completions", Chat("chat", {{"max_tokens", 0}})), 400,
               "invalid_request_error", nullptr);
  expect_error(Post(a, "/v1/chat/completions", Chat("chat", {{"stream", "yes"}})), 400,
               "invalid_request_error", nullptr);
  expect_error(Post(a, "/v1/chat/completions", Chat("chat"), {{"x-test-status", "503"}}), 503,
               "server_error", nullptr);
  EXPECT_EQ(Http("GET", a, "/v1/chat/completions").status, 405);
  // A stream that fails says so before its head, as a plain JSON error.
  HttpResponse failed = Post(a, "/v1/chat/completions", Chat("gpt-none", {{"stream", true}}));
  EXPECT_EQ(failed.status, 404);
  EXPECT_EQ(failed.headers["content-type"], "application/json");
}

TEST(TestServerOpenAi, RequestsShareTheModelsSlotsForTheWholeAnswer) {
  // One slot: the second answer waits for the first one's last token.
  Server server = StartServer({"--llm-model", "chat:0:100:3:1", "--queue-limit", "1"});
  ASSERT_NE(server.process, nullptr);
  auto start = Clock::now();
  std::vector<Clock::time_point> ends(2);
  std::vector<int> statuses(2);
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < 2; ++i) {
      clients.emplace_back([&, i] {
        statuses[i] = Post(server.http, "/v1/chat/completions", Chat("chat")).status;
        ends[i] = Clock::now();
      });
    }
    ASSERT_TRUE(Eventually([&] { return ModelState(server.http, "chat")["queued"] == 1; }, 2s));
    HttpResponse rejected =
        Post(server.http, "/v1/chat/completions", Chat("chat", {{"stream", true}}));
    EXPECT_EQ(rejected.status, 503) << rejected.body;
    EXPECT_EQ(json::parse(rejected.body)["error"]["code"], "queue_full");
  }
  EXPECT_EQ(statuses, std::vector<int>({200, 200}));
  EXPECT_GE(MsBetween(start, std::max(ends[0], ends[1])), 2 * 200 - 10);
  EXPECT_EQ(ModelState(server.http, "chat")["served_total"], 2);
}

TEST(TestServerOpenAi, ClientHangingUpMidStreamFreesTheSlotAtOnce) {
  // 50 tokens of 400 ms: twenty seconds of answer, one slot.
  Server server = StartServer({"--llm-model", "chat:0:400:50:1"});
  ASSERT_NE(server.process, nullptr);
  Socket socket = Socket::Connect(server.http);
  ASSERT_TRUE(socket.Send(
      PostJsonBytes(server.http, "/v1/chat/completions", Chat("chat", {{"stream", true}}))));
  StreamReader reader(socket);
  StreamReply first = reader.Read(/*max_events=*/2);
  ASSERT_EQ(first.events.size(), 2u);
  EXPECT_EQ(ModelState(server.http, "chat")["serving"], 1);
  auto closed = Clock::now();
  socket.Close();
  // The slot comes back well before the next token would have been due.
  EXPECT_TRUE(Eventually([&] { return ModelState(server.http, "chat")["serving"] == 0; }, 1000ms));
  EXPECT_LT(MsBetween(closed, Clock::now()), 250);
  HttpResponse next = Post(server.http, "/v1/chat/completions", Chat("chat", {{"max_tokens", 1}}));
  EXPECT_EQ(next.status, 200);
  EXPECT_LT(MsBetween(closed, Clock::now()), 1000);

  // The same for a plain answer still being produced.
  Socket plain = Socket::Connect(server.http);
  ASSERT_TRUE(plain.Send(PostJsonBytes(server.http, "/v1/chat/completions", Chat("chat"))));
  ASSERT_TRUE(Eventually([&] { return ModelState(server.http, "chat")["serving"] == 1; }, 2s));
  plain.Close();
  EXPECT_TRUE(Eventually([&] { return ModelState(server.http, "chat")["serving"] == 0; }, 1000ms));
}

TEST(TestServerOpenAi, FlagsAndEnvironmentSetTheTiming) {
  Server listed =
      StartServer({}, {"LAGSCALE_LLM_MODEL=chat:30:5:4,big:10:5:7:2", "LAGSCALE_MODEL=iris:20"});
  ASSERT_NE(listed.process, nullptr);
  json big = ModelState(listed.http, "big");
  EXPECT_EQ(big["ttft_ms"], 10);
  EXPECT_EQ(big["token_ms"], 5);
  EXPECT_EQ(big["output_tokens"], 7);
  EXPECT_EQ(big["concurrency"], 2);
  EXPECT_EQ(ModelState(listed.http, "chat")["ttft_ms"], 30);
  EXPECT_EQ(ModelState(listed.http, "iris")["service_time_ms"], 20);
  HttpResponse reply = Post(listed.http, "/v1/chat/completions", Chat("big"));
  EXPECT_EQ(json::parse(reply.body)["usage"]["completion_tokens"], 7);
  // A V2 model listed with --model answers OpenAI requests with the default timing.
  HttpResponse iris = Post(listed.http, "/v1/completions", {{"model", "iris"}, {"prompt", "x"}});
  EXPECT_EQ(json::parse(iris.body)["usage"]["completion_tokens"], 16);
  EXPECT_EQ(Post(listed.http, "/v1/chat/completions", Chat("other")).status, 404);

  // Defaults for every model, from the environment.
  Server defaults =
      StartServer({}, {"LAGSCALE_TTFT_MS=250", "LAGSCALE_TOKEN_MS=1", "LAGSCALE_OUTPUT_TOKENS=3"});
  ASSERT_NE(defaults.process, nullptr);
  auto start = Clock::now();
  HttpResponse any = Post(defaults.http, "/v1/chat/completions", Chat("any-model"));
  EXPECT_GE(MsBetween(start, Clock::now()), 250);
  EXPECT_EQ(json::parse(any.body)["usage"]["completion_tokens"], 3);
  EXPECT_EQ(ModelState(defaults.http, "any-model")["ttft_ms"], 250);
}

std::string Output(const std::string& command, int* code) {
  const CommandResult result = RunShell(command);
  *code = result.exit_code;
  return result.all();
}

TEST(TestServerOpenAi, BadLlmFlagsStopStartupNamingTheSetting) {
  const std::string binary = std::string(LAGSCALE_BIN_DIR) + "/lagscale-testserver";
  int code = 0;
  std::string help = Output(binary + " --help", &code);
  EXPECT_EQ(code, 0);
  for (const char* flag : {"--llm-model", "--ttft-ms", "--token-ms", "--output-tokens"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(Output(binary + " --llm-model chat:1:2", &code).find("--llm-model chat:1:2"),
            std::string::npos);
  EXPECT_NE(code, 0);
  EXPECT_NE(Output(binary + " --llm-model chat:1:2:0", &code).find("TOKENS"), std::string::npos);
  EXPECT_NE(code, 0);
  EXPECT_NE(Output(binary + " --model chat:1 --llm-model chat:1:2:3", &code).find("twice"),
            std::string::npos);
  EXPECT_NE(code, 0);
  EXPECT_NE(Output(binary + " --output-tokens 0", &code).find("--output-tokens"),
            std::string::npos);
  EXPECT_NE(code, 0);
}

TEST(TestServerOpenAi, PythonHttpClientReadsTheStreamAsItIsProduced) {
  Server server = StartServer({"--llm-model", "chat:50:100:4"});
  ASSERT_NE(server.process, nullptr);
  // An independent HTTP client: Python's http.client decodes the chunks; each line is printed
  // with the milliseconds since the request was sent.
  const std::string script = R"PY(
import http.client, json, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=10)
body = {"model": "chat", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hello there"}]}
start = time.monotonic()
conn.request("POST", "/v1/chat/completions", json.dumps(body),
             {"Content-Type": "application/json"})
resp = conn.getresponse()
print(resp.status, resp.getheader("Content-Type"))
for line in resp:
    line = line.decode().strip()
    if line:
        print(int((time.monotonic() - start) * 1000), line)
)PY";
  int code = 0;
  std::string output = Output("/usr/bin/python3 -c '" + script + "' " + server.http, &code);
  ASSERT_EQ(code, 0) << output;
  std::vector<std::pair<int, std::string>> lines;
  std::istringstream in(output);
  std::string status;
  std::getline(in, status);
  EXPECT_EQ(status, "200 text/event-stream");
  for (std::string line; std::getline(in, line);) {
    auto space = line.find(' ');
    lines.emplace_back(std::stoi(line.substr(0, space)), line.substr(space + 1));
  }
  ASSERT_EQ(lines.size(), 6u) << output;  // four tokens, usage, [DONE]
  EXPECT_EQ(lines.back().second, "data: [DONE]");
  json usage = json::parse(lines[4].second.substr(6));
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
  // The client read each token when it was due (50, 150, 250, 350 ms), not before, and the first
  // one before the last was due.
  for (int i = 0; i < 4; ++i) EXPECT_GE(lines[i].first, 50 + 100 * i - 5) << output;
  EXPECT_LT(lines[0].first, 350) << output;
}

}  // namespace
}  // namespace lagscale::testing
