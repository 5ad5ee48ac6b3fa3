// The `status` subcommand: GET /status, print aligned tables; with --watch, redraw until Ctrl-C.
#include "lagscale/coordinator/status_cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "http_client.h"
#include "json_input.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;
using Row = std::vector<std::string>;

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Number(const json& v, int digits) {
  return v.is_number() ? Fixed(v.get<double>(), digits) : "-";
}

std::string Int(const json& v) { return v.is_number() ? std::to_string(v.get<long long>()) : "-"; }

std::string Age(int64_t ms) {
  const int64_t s = std::max<int64_t>(0, ms / 1000);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

std::string Decision(const json& d, int64_t now_unix_ms) {
  if (!d.is_object()) return "-";
  return Int(d.value("from", json())) + "->" + Int(d.value("to", json())) + " " +
         Age(now_unix_ms - d.value("time_unix_ms", int64_t{0})) + " ago (" +
         d.value("reason", std::string()) + ")";
}

// A cell as the terminal may show it: names come from reports, which anyone holding the token can
// send, so control characters (escape sequences among them) print as '?'.
std::string Printable(std::string cell) {
  for (char& c : cell) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return cell;
}

// Left-aligned columns, two spaces apart, like kubectl; the last column is not padded.
std::string Table(std::vector<Row> rows) {
  std::vector<size_t> width;
  for (Row& r : rows) {
    for (std::string& cell : r) cell = Printable(std::move(cell));
    width.resize(std::max(width.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const Row& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::vector<Row> ModelRows(const json& s, int64_t now_unix_ms) {
  const std::string window =
      s.contains("windows") && !s["windows"].empty() ? s["windows"][0].get<std::string>() : "";
  std::vector<Row> rows{{"MODEL", "SERVER", "POLICY", "IN-FLIGHT", "CONCURRENCY(" + window + ")",
                         "REQ/S", "DESIRED", "CURRENT", "MIN", "MAX", "FRESH", "LAST DECISION"}};
  for (const json& m : s.value("models", json::array())) {
    const json conc = m.contains("concurrency") ? m["concurrency"].value(window, json()) : json();
    const std::string server = m.value("server", std::string());
    rows.push_back({m.value("name", std::string()), server.empty() ? "-" : server,
                    m.value("policy", std::string()), Number(m.value("inflight", json()), 0),
                    Number(conc, 2), Number(m.value("arrival_rate", json()), 1),
                    Int(m.value("desired_replicas", json())),
                    Int(m.value("current_replicas", json())), Int(m.value("min_replicas", json())),
                    Int(m.value("max_replicas", json())), m.value("fresh", false) ? "yes" : "no",
                    Decision(m.value("last_decision", json()), now_unix_ms)});
  }
  return rows;
}

std::vector<Row> ServerRows(const json& s, int64_t now_unix_ms) {
  std::vector<Row> rows{{"SERVER", "PLACEMENT", "PODS", "IN-FLIGHT", "DESIRED", "CURRENT", "MIN",
                         "MAX", "MODELS", "LAST DECISION"}};
  for (const json& v : s.value("servers", json::array())) {
    rows.push_back({v.value("name", std::string()), v.value("placement", std::string()),
                    Int(v.value("reporting_pods", json())), Number(v.value("inflight", json()), 0),
                    Int(v.value("desired_replicas", json())),
                    Int(v.value("current_replicas", json())), Int(v.value("min_replicas", json())),
                    Int(v.value("max_replicas", json())),
                    std::to_string(v.value("models", json::array()).size()),
                    Decision(v.value("last_decision", json()), now_unix_ms)});
  }
  return rows;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One fetch and print; false (message on stderr) when /status could not be read.
bool PrintOnce(const HttpEndpoint& endpoint, const StatusCommandOptions& options, bool clear) {
  const HttpResponse r =
      HttpCall(endpoint, "GET", endpoint.base_path + "/status", {}, "", options.timeout_s);
  if (r.status != 200) {
    std::fprintf(stderr, "lagscale-coordinator status: GET %s/status: %s\n", options.url.c_str(),
                 r.status ? ("HTTP " + std::to_string(r.status)).c_str() : r.error.c_str());
    return false;
  }
  const json doc = ParseUntrustedJson(r.body);
  if (doc.is_discarded() || !doc.is_object()) {
    std::fprintf(stderr, "lagscale-coordinator status: %s/status is not a status document\n",
                 options.url.c_str());
    return false;
  }
  std::string text;
  try {
    text = FormatStatusTables(doc, NowUnixMs());
  } catch (const json::exception& e) {
    std::fprintf(stderr, "lagscale-coordinator status: %s/status is not a status document (%s)\n",
                 options.url.c_str(), e.what());
    return false;
  }
  std::fputs(clear ? ("\x1b[H\x1b[2J" + text).c_str() : text.c_str(), stdout);
  std::fflush(stdout);
  return true;
}

}  // namespace

std::string FormatStatusTables(const json& status, int64_t now_unix_ms) {
  return Table(ModelRows(status, now_unix_ms)) + "\n" + Table(ServerRows(status, now_unix_ms));
}

CLI::App* AddStatusCommand(CLI::App& app, StatusCommandOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "status", "print the models and servers of a running coordinator (from its /status)");
  cmd->add_option("--url", options.url, "the coordinator's HTTP address (http://host:port)")
      ->envname("LAGSCALE_STATUS_URL")
      ->capture_default_str();
  cmd->add_flag("--watch,-w", options.watch, "redraw every --interval until interrupted");
  cmd->add_option("--interval", options.interval_s, "seconds between redraws with --watch")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  return cmd;
}

int RunStatusCommand(const StatusCommandOptions& options) {
  std::string url = options.url;
  if (url.find("://") == std::string::npos) url = "http://" + url;  // "host:port" is enough
  auto endpoint = ParseHttpUrl(url);
  if (!endpoint || endpoint->tls) {
    std::fprintf(stderr,
                 "lagscale-coordinator status: --url: invalid value \"%s\" "
                 "(expected http://host:port)\n",
                 options.url.c_str());
    return 1;
  }
  while (!endpoint->base_path.empty() && endpoint->base_path.back() == '/')
    endpoint->base_path.pop_back();
  if (!options.watch) return PrintOnce(*endpoint, options, false) ? 0 : 1;
  const bool tty = isatty(STDOUT_FILENO);
  for (;;) {
    // A coordinator restarting is no reason to stop watching: the error shows until it is back.
    PrintOnce(*endpoint, options, tty);
    if (!tty) std::fputs("\n", stdout);  // plain output: one blank line between snapshots
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(options.interval_s));
  }
}

}  // namespace lagscale::coordinator
