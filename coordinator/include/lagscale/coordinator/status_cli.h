#pragma once

// `lagscale-coordinator status [--url URL] [--watch]`: the per-model and per-server tables of a
// running coordinator's /status, printed like `kubectl get` for shells and runbooks.
// Thread safety: FormatStatusTables() is pure; RunStatusCommand() owns the calling thread until it
// returns (with --watch: until interrupted).

#include <nlohmann/json.hpp>
#include <string>

namespace CLI {
class App;
}

namespace lagscale::coordinator {

struct StatusCommandOptions {
  std::string url = "http://127.0.0.1:8080";  // the coordinator's --http-listen address
  bool watch = false;
  double interval_s = 2;
  double timeout_s = 5;
};

// Adds the `status` subcommand to `app`; its flags fill `options`. Returns the subcommand, which
// is parsed() when the user asked for it.
CLI::App* AddStatusCommand(CLI::App& app, StatusCommandOptions& options);

// Fetches /status and prints the tables to stdout (errors to stderr). Returns the process exit
// code: 0 when printed, 1 when the coordinator could not be reached or answered badly.
int RunStatusCommand(const StatusCommandOptions& options);

// The MODELS and SERVERS tables of a /status document, columns aligned, one row per target.
// `now_unix_ms` dates the LAST DECISION column ("12s ago"). Control characters in names print as
// '?'. Throws nlohmann::json::exception when a field has the wrong type.
std::string FormatStatusTables(const nlohmann::json& status, int64_t now_unix_ms);

}  // namespace lagscale::coordinator
