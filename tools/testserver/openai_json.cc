#include "openai_json.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

namespace lagscale::testserver {
namespace {

// Keys in the order OpenAI writes them (id, object, created, model, choices, usage).
using json = nlohmann::ordered_json;

// Runs of non-space characters: a deterministic stand-in for a tokenizer.
int CountWords(std::string_view text) {
  int words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

OpenAiError BadParam(std::string param, std::string message) {
  OpenAiError error;
  error.param = std::move(param);
  error.message = std::move(message);
  return error;
}

// A message's content: a string, null (an assistant turn with tool calls), or an array of parts
// whose "text" parts count.
bool CountContent(const json& content, int* words) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    *words += CountWords(content.get_ref<const std::string&>());
    return true;
  }
  if (!content.is_array()) return false;
  for (const auto& part : content) {
    if (!part.is_object()) return false;
    auto text = part.find("text");
    if (text != part.end() && text->is_string()) {
      *words += CountWords(text->get_ref<const std::string&>());
    }
  }
  return true;
}

bool CountMessages(const json& body, int* words, OpenAiError* error) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty()) {
    *error = BadParam("messages", "messages must be a non-empty array");
    return false;
  }
  for (const auto& message : *messages) {
    auto content = message.is_object() ? message.find("content") : message.end();
    if (!message.is_object() || (content != message.end() && !CountContent(*content, words))) {
      *error = BadParam("messages", "each message must be an object; content a string or array");
      return false;
    }
  }
  return true;
}

// A prompt: a string, an array of strings, an array of token ids, or an array of such arrays.
bool CountPrompt(const json& body, int* tokens, OpenAiError* error) {
  auto prompt = body.find("prompt");
  bool ok = prompt != body.end() && (prompt->is_string() || prompt->is_array());
  if (ok && prompt->is_string()) {
    *tokens = CountWords(prompt->get_ref<const std::string&>());
    return true;
  }
  for (size_t i = 0; ok && i < prompt->size(); ++i) {
    const json& item = (*prompt)[i];
    if (item.is_string()) {
      *tokens += CountWords(item.get_ref<const std::string&>());
    } else if (item.is_number_integer()) {
      *tokens += 1;
    } else if (item.is_array()) {
      for (const auto& id : item) ok = ok && id.is_number_integer();
      *tokens += static_cast<int>(item.size());
    } else {
      ok = false;
    }
  }
  if (!ok) *error = BadParam("prompt", "prompt must be a string, an array of strings or tokens");
  return ok;
}

// "stream", "stream_options" and the token limits.
bool ParseOptions(const json& body, OpenAiRequest* out, OpenAiError* error) {
  auto stream = body.find("stream");
  if (stream != body.end() && !stream->is_null()) {
    if (!stream->is_boolean()) {
      *error = BadParam("stream", "stream must be a boolean");
      return false;
    }
    out->stream = stream->get<bool>();
  }
  auto options = body.find("stream_options");
  if (options != body.end() && !options->is_null()) {
    auto usage = options->is_object() ? options->find("include_usage") : options->end();
    if (!options->is_object() || (usage != options->end() && !usage->is_boolean())) {
      *error = BadParam("stream_options", "stream_options must be {\"include_usage\": boolean}");
      return false;
    }
    out->include_usage = usage != options->end() && usage->get<bool>();
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    auto limit = body.find(key);
    if (limit == body.end() || limit->is_null()) continue;
    if (!limit->is_number_integer() || limit->get<int64_t>() < 1) {
      *error = BadParam(key, std::string(key) + " must be an integer >= 1");
      return false;
    }
    out->max_tokens = static_cast<int>(std::min<int64_t>(limit->get<int64_t>(), 1'000'000));
  }
  return true;
}

std::atomic<uint64_t> next_id{1};

json Usage(const Completion& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.tokens},
          {"total_tokens", c.prompt_tokens + c.tokens}};
}

json Envelope(const Completion& c, std::string_view object) {
  return {{"id", c.id}, {"object", object}, {"created", c.created}, {"model", c.model}};
}

std::string Event(const json& chunk) { return "data: " + chunk.dump() + "\n\n"; }

const char* FinishReason(const Completion& c) { return c.truncated ? "length" : "stop"; }

}  // namespace

bool ParseOpenAiRequest(OpenAiApi api, std::string_view text, OpenAiRequest* out,
                        OpenAiError* error) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    error->message = body.is_discarded() ? "We could not parse the JSON body of your request."
                                         : "The request body must be a JSON object.";
    return false;
  }
  auto model = body.find("model");
  if (model != body.end() && !model->is_string()) {
    *error = BadParam("model", "model must be a string");
    return false;
  }
  if (model != body.end()) out->model = model->get<std::string>();
  if (!ParseOptions(body, out, error)) return false;
  return api == OpenAiApi::kChat ? CountMessages(body, &out->prompt_tokens, error)
                                 : CountPrompt(body, &out->prompt_tokens, error);
}

std::string OpenAiErrorJson(const OpenAiError& error) {
  auto null_if_empty = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return json{{"error",
               {{"message", error.message},
                {"type", error.type},
                {"param", null_if_empty(error.param)},
                {"code", null_if_empty(error.code)}}}}
      .dump();
}

Completion MakeCompletion(OpenAiApi api, const OpenAiRequest& request, const LlmTiming& timing) {
  Completion c;
  c.api = api;
  c.id = (api == OpenAiApi::kChat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
  c.created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  c.model = request.model;
  c.tokens = timing.output_tokens;
  if (request.max_tokens && *request.max_tokens < c.tokens) {
    c.tokens = *request.max_tokens;
    c.truncated = true;
  }
  c.prompt_tokens = request.prompt_tokens;
  c.include_usage = request.include_usage;
  return c;
}

std::string TokenText(int index) { return (index == 0 ? "tok" : " tok") + std::to_string(index); }

std::string CompletionJson(const Completion& c) {
  std::string text;
  for (int i = 0; i < c.tokens; ++i) text += TokenText(i);
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", FinishReason(c)}};
  if (c.api == OpenAiApi::kChat) {
    choice["message"] = {{"role", "assistant"}, {"content", std::move(text)}};
  } else {
    choice["text"] = std::move(text);
  }
  json body = Envelope(c, c.api == OpenAiApi::kChat ? "chat.completion" : "text_completion");
  body["choices"] = json::array({std::move(choice)});
  body["usage"] = Usage(c);
  return body.dump();
}

std::string TokenEvent(const Completion& c, int index) {
  bool last = index + 1 == c.tokens;
  json choice = {{"index", 0},
                 {"logprobs", nullptr},
                 {"finish_reason", last ? json(FinishReason(c)) : json(nullptr)}};
  if (c.api == OpenAiApi::kChat) {
    choice["delta"] = index == 0 ? json{{"role", "assistant"}, {"content", TokenText(index)}}
                                 : json{{"content", TokenText(index)}};
  } else {
    choice["text"] = TokenText(index);
  }
  json chunk = Envelope(c, c.api == OpenAiApi::kChat ? "chat.completion.chunk" : "text_completion");
  chunk["choices"] = json::array({std::move(choice)});
  if (c.include_usage) chunk["usage"] = nullptr;
  return Event(chunk);
}

std::string UsageEvent(const Completion& c) {
  json chunk = Envelope(c, c.api == OpenAiApi::kChat ? "chat.completion.chunk" : "text_completion");
  chunk["choices"] = json::array();
  chunk["usage"] = Usage(c);
  return Event(chunk);
}

}  // namespace lagscale::testserver
