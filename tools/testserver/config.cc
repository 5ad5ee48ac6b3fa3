#include "config.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "lagscale/version.h"
#include "model_name.h"

namespace lagscale::testserver {
namespace {

bool ParseInt(std::string_view text, int* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> SplitColons(std::string_view text) {
  std::vector<std::string_view> fields;
  for (;;) {
    auto colon = text.find(':');
    fields.push_back(text.substr(0, colon));
    if (colon == std::string_view::npos) return fields;
    text.remove_prefix(colon + 1);
  }
}

// The flags' ranges, for the same values given in a model list.
constexpr int kMaxMs = 3'600'000;
constexpr int kMaxTokens = 1'000'000;
constexpr int kMaxConcurrency = 1'000'000;

// Parses fields[index] into *out when present; "" or the problem, naming the field.
std::string ParseField(const std::vector<std::string_view>& fields, size_t index,
                       std::string_view what, int min, int max, int* out) {
  if (index >= fields.size()) return "";
  if (!ParseInt(fields[index], out) || *out < min || *out > max) {
    return std::string(what) + " must be an integer in [" + std::to_string(min) + ", " +
           std::to_string(max) + "]";
  }
  return "";
}

// "NAME:SERVICE_MS[:CONCURRENCY]"; the rest of the spec comes from the defaults.
std::string ParseModelSpec(const std::string& text, const ModelSpec& defaults, ModelSpec* spec) {
  *spec = defaults;
  auto fields = SplitColons(text);
  if (fields.size() < 2 || fields.size() > 3) return "expected NAME:SERVICE_MS[:CONCURRENCY]";
  spec->name = std::string(fields[0]);
  if (!ValidModelName(spec->name)) return "invalid model name '" + spec->name + "'";
  std::string error = ParseField(fields, 1, "SERVICE_MS", 0, kMaxMs, &spec->service_time_ms);
  if (error.empty())
    error = ParseField(fields, 2, "CONCURRENCY", 0, kMaxConcurrency, &spec->concurrency);
  return error;
}

// "NAME:TTFT_MS:TOKEN_MS:TOKENS[:CONCURRENCY]"; the rest of the spec comes from the defaults.
std::string ParseLlmModelSpec(const std::string& text, const ModelSpec& defaults, ModelSpec* spec) {
  *spec = defaults;
  auto fields = SplitColons(text);
  if (fields.size() < 4 || fields.size() > 5) {
    return "expected NAME:TTFT_MS:TOKEN_MS:TOKENS[:CONCURRENCY]";
  }
  spec->name = std::string(fields[0]);
  if (!ValidModelName(spec->name)) return "invalid model name '" + spec->name + "'";
  std::string error = ParseField(fields, 1, "TTFT_MS", 0, kMaxMs, &spec->llm.ttft_ms);
  if (error.empty()) error = ParseField(fields, 2, "TOKEN_MS", 0, kMaxMs, &spec->llm.token_ms);
  if (error.empty())
    error = ParseField(fields, 3, "TOKENS", 1, kMaxTokens, &spec->llm.output_tokens);
  if (error.empty())
    error = ParseField(fields, 4, "CONCURRENCY", 0, kMaxConcurrency, &spec->concurrency);
  return error;
}

using SpecParser = std::string (*)(const std::string&, const ModelSpec&, ModelSpec*);

// Adds the models of one list (--model or --llm-model) to config->models; false after printing
// the first bad entry. A name may appear once across both lists.
bool AddModels(const std::vector<std::string>& texts, std::string_view flag, SpecParser parse,
               std::set<std::string>* seen, Config* config) {
  for (const auto& text : texts) {
    ModelSpec spec;
    std::string error = parse(text, config->defaults, &spec);
    if (error.empty() && !seen->insert(spec.name).second) error = "model listed twice";
    if (!error.empty()) {
      std::fprintf(stderr, "lagscale-testserver: %.*s %s: %s\n", static_cast<int>(flag.size()),
                   flag.data(), text.c_str(), error.c_str());
      return false;
    }
    config->models.push_back(spec);
  }
  return true;
}

// The capacity model: service time, concurrency, replicas, the --model list and the queue.
void AddCapacityOptions(CLI::App& app, Config& config, std::vector<std::string>& model_texts) {
  app.add_option("--service-time-ms", config.defaults.service_time_ms,
                 "time one request holds its slot, in milliseconds")
      ->envname("LAGSCALE_SERVICE_TIME_MS")
      ->check(CLI::Range(0, kMaxMs))
      ->capture_default_str();
  app.add_option("--concurrency", config.defaults.concurrency,
                 "requests one replica serves at once (0: no limit)")
      ->envname("LAGSCALE_CONCURRENCY")
      ->check(CLI::Range(0, kMaxConcurrency))
      ->capture_default_str();
  app.add_option("--replicas", config.defaults.replicas, "initial replicas of every model")
      ->envname("LAGSCALE_REPLICAS")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  app.add_option("--model", model_texts,
                 "serve only these models, NAME:SERVICE_MS[:CONCURRENCY] (repeatable; the env "
                 "variable takes a comma-separated list)")
      ->envname("LAGSCALE_MODEL")
      ->delimiter(',');
  app.add_option(
         "--queue-limit", config.queue_limit,
         "requests that may wait per model; beyond it 503 / RESOURCE_EXHAUSTED (0: no limit)")
      ->envname("LAGSCALE_QUEUE_LIMIT")
      ->check(CLI::Range(0, 100'000'000))
      ->capture_default_str();
}

// The OpenAI-compatible endpoints' defaults and per-model list.
void AddLlmOptions(CLI::App& app, Config& config, std::vector<std::string>& llm_texts) {
  app.add_option("--ttft-ms", config.defaults.llm.ttft_ms,
                 "OpenAI endpoints: time to the first token, in milliseconds")
      ->envname("LAGSCALE_TTFT_MS")
      ->check(CLI::Range(0, kMaxMs))
      ->capture_default_str();
  app.add_option("--token-ms", config.defaults.llm.token_ms,
                 "OpenAI endpoints: time between two tokens, in milliseconds")
      ->envname("LAGSCALE_TOKEN_MS")
      ->check(CLI::Range(0, kMaxMs))
      ->capture_default_str();
  app.add_option("--output-tokens", config.defaults.llm.output_tokens,
                 "OpenAI endpoints: tokens of an answer (a request's max_tokens may lower it)")
      ->envname("LAGSCALE_OUTPUT_TOKENS")
      ->check(CLI::Range(1, kMaxTokens))
      ->capture_default_str();
  app.add_option("--llm-model", llm_texts,
                 "serve only these models (with --model's), with their own LLM timing, "
                 "NAME:TTFT_MS:TOKEN_MS:TOKENS[:CONCURRENCY] (repeatable; the env variable takes "
                 "a comma-separated list)")
      ->envname("LAGSCALE_LLM_MODEL")
      ->delimiter(',');
}

}  // namespace

std::optional<Config> ParseConfig(int argc, char** argv, int* exit_code) {
  Config config;
  config.threads = std::max(1u, std::thread::hardware_concurrency());
  CLI::App app{
      "lagscale-testserver: a V2 inference server (REST and gRPC) and OpenAI-compatible LLM "
      "endpoints (streamed or not) with a configurable service time, token timing and capacity "
      "per model, for tests, demos and benchmarks"};
  app.set_version_flag("--version",
                       std::string("lagscale-testserver ") + kVersion + " (" + kRevision + ")");
  app.add_option("--http", config.http_listen, "REST listen address ADDR:PORT (port 0: any)")
      ->envname("LAGSCALE_HTTP")
      ->capture_default_str();
  app.add_option("--grpc", config.grpc_listen,
                 "gRPC listen address ADDR:PORT (port 0: any; empty: no gRPC)")
      ->envname("LAGSCALE_GRPC")
      ->capture_default_str();
  std::vector<std::string> model_texts;
  AddCapacityOptions(app, config, model_texts);
  app.add_option("--threads", config.threads, "I/O threads (default: cores)")
      ->envname("LAGSCALE_THREADS")
      ->check(CLI::Range(1, 1024));
  app.add_option("--server-replicas", config.server_replicas, "initial server replicas")
      ->envname("LAGSCALE_SERVER_REPLICAS")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  std::string placement = "scheduled";
  app.add_option("--placement", placement,
                 "scheduled: /admin/scale sets model and server replicas separately; all: a server "
                 "decision also sets every model's replicas")
      ->envname("LAGSCALE_PLACEMENT")
      ->check(CLI::IsMember({"scheduled", "all"}))
      ->capture_default_str();
  std::vector<std::string> llm_texts;
  AddLlmOptions(app, config, llm_texts);
  app.add_option("--log-level", config.log_level, "trace|debug|info|warn|error|off")
      ->envname("LAGSCALE_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  }
  config.placement = placement == "all" ? Placement::kAll : Placement::kScheduled;
  std::set<std::string> seen;
  if (!AddModels(model_texts, "--model", ParseModelSpec, &seen, &config) ||
      !AddModels(llm_texts, "--llm-model", ParseLlmModelSpec, &seen, &config)) {
    *exit_code = 2;
    return std::nullopt;
  }
  return config;
}

}  // namespace lagscale::testserver
