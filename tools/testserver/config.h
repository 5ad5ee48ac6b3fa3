#pragma once

// Config: the test server's settings, from flags with LAGSCALE_* environment fallbacks.

#include <optional>
#include <string>
#include <vector>

namespace lagscale::testserver {

// How an OpenAI-style request is answered: the first token after ttft_ms, each further token
// token_ms after the one before, output_tokens tokens unless the request's max_tokens is lower.
struct LlmTiming {
  int ttft_ms = 100;
  int token_ms = 20;
  int output_tokens = 16;
};

// Settings of one model; a model serves replicas x concurrency requests at once (V2 and OpenAI
// requests alike share its slots).
struct ModelSpec {
  std::string name;
  int service_time_ms = 0;
  int concurrency = 0;  // per replica; 0 = no limit
  int replicas = 1;
  LlmTiming llm;
};

// How server replicas relate to model replicas (mirrors the coordinator's placements).
enum class Placement {
  kScheduled,  // model replicas and server replicas are set separately
  kAll,        // every server replica hosts every model: a server decision sets every model
};

struct Config {
  std::string http_listen = "127.0.0.1:9000";
  std::string grpc_listen = "127.0.0.1:9001";  // empty: no gRPC listener
  ModelSpec defaults;                          // for models without their own --model entry
  std::vector<ModelSpec> models;  // from --model and --llm-model; empty: every name is served
  int queue_limit = 0;            // waiting requests per model; 0 = no limit
  int threads = 1;
  int server_replicas = 1;
  Placement placement = Placement::kScheduled;
  std::string log_level = "info";
};

// Parses argv (and the environment). Returns the config, or nullopt with *exit_code set when the
// process should stop now: 0 after --help/--version, non-zero after an error (already printed).
std::optional<Config> ParseConfig(int argc, char** argv, int* exit_code);

}  // namespace lagscale::testserver
