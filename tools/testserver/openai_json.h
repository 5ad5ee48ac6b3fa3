#pragma once

// The JSON of the OpenAI-compatible endpoints (POST /v1/chat/completions and /v1/completions):
// checking a request body, and the bodies of the answer, plain (`chat.completion`,
// `text_completion`) or streamed as server-sent events (`chat.completion.chunk`, the usage chunk,
// `[DONE]`), in the shapes OpenAI and vLLM use.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config.h"

namespace lagscale::testserver {

enum class OpenAiApi { kChat, kCompletions };

struct OpenAiRequest {
  std::string model;  // empty: the body had no "model"
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  std::optional<int> max_tokens;  // max_completion_tokens, else max_tokens
  int prompt_tokens = 0;          // whitespace-separated words of the messages' text / prompt
};

// An OpenAI error: {"error":{"message":...,"type":...,"param":...,"code":...}}.
struct OpenAiError {
  unsigned status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "": null
  std::string code;   // "": null
};

// Parses and checks `body`. Returns false and *error (a 400) when the client got it wrong.
// A missing model is not an error here: the caller answers it as a model not found.
bool ParseOpenAiRequest(OpenAiApi api, std::string_view body, OpenAiRequest* out,
                        OpenAiError* error);

std::string OpenAiErrorJson(const OpenAiError& error);

// One answer, the same for every event of a stream.
struct Completion {
  OpenAiApi api = OpenAiApi::kChat;
  std::string id;  // "chatcmpl-N" / "cmpl-N", unique in the process
  int64_t created = 0;
  std::string model;
  int tokens = 0;  // completion tokens
  int prompt_tokens = 0;
  bool truncated = false;      // max_tokens cut it short: finish_reason "length", else "stop"
  bool include_usage = false;  // streamed: "usage":null on each chunk, then a usage chunk
};

Completion MakeCompletion(OpenAiApi api, const OpenAiRequest& request, const LlmTiming& timing);

// The text of token `index`: "tok0", " tok1", " tok2"... (words, so a whitespace count of the
// answer gives its completion tokens back).
std::string TokenText(int index);

// The plain answer, with every token and a top-level usage.
std::string CompletionJson(const Completion& completion);

// `data: {chunk}\n\n` carrying token `index`; the last token's chunk has the finish_reason.
std::string TokenEvent(const Completion& completion, int index);

// `data: {chunk with "choices":[] and usage}\n\n`, sent before [DONE] when include_usage.
std::string UsageEvent(const Completion& completion);

inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

}  // namespace lagscale::testserver
