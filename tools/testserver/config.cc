#include "config.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <set>
#include <thread>

#include "lagscale/version.h"
#include "model_name.h"

namespace lagscale::testserver {
namespace {

bool ParseInt(std::string_view text, int* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "NAME:SERVICE_MS[:CONCURRENCY]"; the rest of the spec comes from the defaults.
std::string ParseModelSpec(const std::string& text, const ModelSpec& defaults, ModelSpec* spec) {
  *spec = defaults;
  auto first = text.find(':');
  if (first == std::string::npos) return "expected NAME:SERVICE_MS[:CONCURRENCY]";
  spec->name = text.substr(0, first);
  if (!ValidModelName(spec->name)) return "invalid model name '" + spec->name + "'";
  std::string_view rest(text);
  rest.remove_prefix(first + 1);
  auto second = rest.find(':');
  if (!ParseInt(rest.substr(0, second), &spec->service_time_ms) || spec->service_time_ms < 0) {
    return "SERVICE_MS must be a non-negative integer";
  }
  if (second != std::string_view::npos &&
      (!ParseInt(rest.substr(second + 1), &spec->concurrency) || spec->concurrency < 0)) {
    return "CONCURRENCY must be a non-negative integer";
  }
  return "";
}

}  // namespace

std::optional<Config> ParseConfig(int argc, char** argv, int* exit_code) {
  Config config;
  config.threads = std::max(1u, std::thread::hardware_concurrency());
  CLI::App app{
      "lagscale-testserver: a V2 inference server (REST and gRPC) with a configurable service time "
      "and capacity per model, for tests, demos and benchmarks"};
  app.set_version_flag("--version",
                       std::string("lagscale-testserver ") + kVersion + " (" + kRevision + ")");
  app.add_option("--http", config.http_listen, "REST listen address ADDR:PORT (port 0: any)")
      ->envname("LAGSCALE_HTTP")
      ->capture_default_str();
  app.add_option("--grpc", config.grpc_listen,
                 "gRPC listen address ADDR:PORT (port 0: any; empty: no gRPC)")
      ->envname("LAGSCALE_GRPC")
      ->capture_default_str();
  app.add_option("--service-time-ms", config.defaults.service_time_ms,
                 "time one request holds its slot, in milliseconds")
      ->envname("LAGSCALE_SERVICE_TIME_MS")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--concurrency", config.defaults.concurrency,
                 "requests one replica serves at once (0: no limit)")
      ->envname("LAGSCALE_CONCURRENCY")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--replicas", config.defaults.replicas, "initial replicas of every model")
      ->envname("LAGSCALE_REPLICAS")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  std::vector<std::string> model_texts;
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
  for (const auto& text : model_texts) {
    ModelSpec spec;
    std::string error = ParseModelSpec(text, config.defaults, &spec);
    if (error.empty() && !seen.insert(spec.name).second) error = "model listed twice";
    if (!error.empty()) {
      std::fprintf(stderr, "lagscale-testserver: --model %s: %s\n", text.c_str(), error.c_str());
      *exit_code = 2;
      return std::nullopt;
    }
    config.models.push_back(spec);
  }
  return config;
}

}  // namespace lagscale::testserver
