#include "sidecar/config.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "lagscale/base/flags.h"
#include "lagscale/base/logging.h"
#include "lagscale/base/names.h"
#include "lagscale/version.h"

namespace lagscale::sidecar {

namespace {

// Durations: "250ms", "10s", "2m"; the unit is required so "10" is never read as 10 ms
// (base::ParseDurationFlag, as every binary reads them), rounded to the millisecond.
void AddDuration(CLI::App& app, const std::string& flag, std::chrono::milliseconds& into,
                 const std::string& help, bool allow_zero = false) {
  // The most milliseconds an int64 holds, in seconds: a longer value is an error, not an overflow.
  const base::DurationSyntax syntax{base::BareNumber::kRejected, allow_zero,
                                    std::chrono::duration<double>(9.2e15)};
  app.add_option_function<std::string>(
         flag,
         [&into, flag, syntax](const std::string& text) {
           const auto d = base::ParseDurationFlag(text, flag, syntax);
           if (!d) throw CLI::ValidationError(d.error());
           into = std::chrono::milliseconds(std::llround(d->count() * 1000));
         },
         help)
      ->type_name("DURATION")
      ->envname(base::FlagEnvName(flag));
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// TLS on the report stream; the files are checked when the reporter starts.
void AddReportTlsFlags(CLI::App& app, SidecarConfig& c) {
  app.add_option("--coordinator-ca", c.coordinator_ca,
                 "CA bundle the coordinator's certificate must chain to (enables TLS)")
      ->envname("LAGSCALE_COORDINATOR_CA");
  app.add_option("--coordinator-cert", c.coordinator_cert,
                 "client certificate presented to the coordinator (mutual TLS)")
      ->envname("LAGSCALE_COORDINATOR_CERT");
  app.add_option("--coordinator-key", c.coordinator_key, "private key of --coordinator-cert")
      ->envname("LAGSCALE_COORDINATOR_KEY");
  AddDuration(app, "--coordinator-tls-reload-interval", c.coordinator_tls_reload_interval,
              "how often the TLS files are re-read (rotation); default 60s");
}

// Where models are named: headers (repeatable, first present wins) and OpenAI-compatible paths
// (repeatable, added to the defaults). Lists also come comma-separated from the environment.
void AddModelRoutingFlags(CLI::App& app, proxy::ModelRouting& routing,
                          std::vector<std::string>& extra_openai_paths) {
  const CLI::Validator header_name(
      [](std::string& v) {
        const bool token = !v.empty() && std::all_of(v.begin(), v.end(), [](unsigned char ch) {
          return std::isalnum(ch) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
        });
        return token ? std::string() : "'" + v + "' is not a header name";
      },
      "HEADER");
  app.add_option("--model-header", routing.headers,
                 "header that names the model; repeat for several (the first present wins)")
      ->envname("LAGSCALE_MODEL_HEADER")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->delimiter(',')
      ->check(header_name)
      ->capture_default_str();
  const CLI::Validator path(
      [](std::string& v) {
        const bool ok = v.size() > 1 && v.front() == '/' && v.find_first_of("?# ") == v.npos;
        return ok ? std::string() : "'" + v + "' is not an absolute path without a query";
      },
      "PATH");
  app.add_option("--openai-path", extra_openai_paths,
                 "more OpenAI-compatible paths whose POST bodies name the model in \"model\" "
                 "(repeatable; added to /v1/chat/completions, /v1/completions, /v1/embeddings "
                 "and the same under /openai)")
      ->envname("LAGSCALE_OPENAI_PATH")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->delimiter(',')
      ->check(path);
}

// The address flags as typed. They are parsed after CLI11 has read them, so every address error
// has base's one wording: `--listen: invalid value "x" (expected HOST:PORT)`.
struct AddressFlags {
  std::string listen = "0.0.0.0:8000", upstream = "127.0.0.1:9000", admin = "0.0.0.0:9090";
};

// Where the proxy listens and forwards, its threads, how it names models, and request limits.
void AddProxyFlags(CLI::App& app, SidecarConfig& c, AddressFlags& a, size_t& threads,
                   std::vector<std::string>& extra_openai_paths) {
  app.add_option("--listen", a.listen, "HTTP/1.1 listen address (port 0: the OS picks)")
      ->envname("LAGSCALE_LISTEN")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--upstream", a.upstream, "the inference server's HTTP address")
      ->envname("LAGSCALE_UPSTREAM")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--admin", a.admin, "admin address: /metrics /healthz /readyz /stats")
      ->envname("LAGSCALE_ADMIN")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--threads", threads, "I/O threads (default: the number of cores)")
      ->envname("LAGSCALE_THREADS")
      ->check(CLI::Range(1, 1024));
  AddModelRoutingFlags(app, c.proxy.routing, extra_openai_paths);
  app.add_option("--max-models", c.max_models, "distinct models tracked; the rest overflow")
      ->envname("LAGSCALE_MAX_MODELS")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  // The coordinator refuses reports whose names break this rule: say so at start-up instead.
  const CLI::Validator identity(
      [](std::string& name) {
        return base::IsValidIdentityName(name)
                   ? std::string()
                   : "expected [A-Za-z0-9._-], 1 to " + std::to_string(base::kMaxIdentityBytes) +
                         " characters";
      },
      "NAME");
  app.add_option("--server-name", c.server_name, "the `server` label on every series")
      ->envname("LAGSCALE_SERVER_NAME")
      ->check(identity);
  app.add_option("--pod-name", c.pod_name, "the `pod` label (default: POD_NAME, then hostname)")
      ->envname("LAGSCALE_POD_NAME")
      ->check(identity);
  app.add_option("--max-header-bytes", c.proxy.max_header_bytes, "request head limit (431)")
      ->envname("LAGSCALE_MAX_HEADER_BYTES")
      ->check(CLI::Range(size_t{256}, size_t{1} << 24))
      ->capture_default_str();
  app.add_option("--max-body-bytes", c.proxy.max_body_bytes,
                 "request body limit (413); 0 = unlimited")
      ->envname("LAGSCALE_MAX_BODY_BYTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

// How long each phase of a request may take, upstream connects, and the drain on SIGTERM.
void AddTimeoutFlags(CLI::App& app, SidecarConfig& c) {
  AddDuration(app, "--header-timeout", c.proxy.header_timeout,
              "time to receive a request head (408); default 10s");
  AddDuration(app, "--idle-timeout", c.proxy.idle_timeout,
              "keep-alive client connection idle time (HTTP/1.1; gRPC: time without a call "
              "in progress, then GOAWAY); default 60s");
  AddDuration(app, "--connect-timeout", c.proxy.connect_timeout,
              "time one upstream connect attempt gets; default 3s (outlives a SYN retransmission)");
  app.add_option("--connect-attempts", c.proxy.connect_attempts,
                 "upstream connect attempts per request before 502")
      ->envname("LAGSCALE_CONNECT_ATTEMPTS")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  AddDuration(app, "--upstream-timeout", c.proxy.upstream_timeout,
              "longest upstream silence while a response is due (504); default 300s");
  AddDuration(app, "--client-write-timeout", c.proxy.client_write_timeout,
              "longest a client may take to read a piece of its response (then client_abort); "
              "default 60s");
  AddDuration(app, "--drain-timeout", c.drain_timeout,
              "on SIGTERM, time in-flight requests get to finish; default 30s",
              /*allow_zero=*/true);
}

// The gRPC passthrough's addresses and the lag reports to the coordinator.
void AddGrpcAndReportFlags(CLI::App& app, SidecarConfig& c) {
  app.add_option("--grpc-listen", c.grpc_listen, "gRPC (h2c) listen address; empty disables")
      ->envname("LAGSCALE_GRPC_LISTEN")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--grpc-upstream", c.grpc_upstream, "the inference server's gRPC address")
      ->envname("LAGSCALE_GRPC_UPSTREAM")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--grpc-engine", c.grpc_engine,
                 "how gRPC calls are proxied: frames (HTTP/2 frames forwarded by nghttp2) or "
                 "calls (a gRPC call each side, the engine before frames)")
      ->envname("LAGSCALE_GRPC_ENGINE")
      ->check(CLI::IsMember({"frames", "calls"}))
      ->capture_default_str();
  app.add_option("--coordinator", c.coordinator, "coordinator HOST:PORT; empty = no reporting")
      ->envname("LAGSCALE_COORDINATOR")
      ->type_name("HOST:PORT");
  AddDuration(app, "--report-interval", c.report_interval,
              "interval between lag reports; default 1s");
  app.add_option("--early-report-threshold", c.early_report_threshold,
                 "in-flight jump that triggers an early report")
      ->envname("LAGSCALE_EARLY_REPORT_THRESHOLD")
      ->capture_default_str();
  app.add_option("--coordinator-token-file", c.coordinator_token_file,
                 "file holding the bearer token presented to the coordinator")
      ->envname("LAGSCALE_COORDINATOR_TOKEN_FILE");
  AddReportTlsFlags(app, c);
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// Whether dialling `upstream` reaches the listener on `listen` itself, which would proxy every
// request to itself until the process runs out of connections: the same port, on the listen host
// or on loopback when the listener covers loopback (a loopback host, or a wildcard, which
// base::Dialable() turns into one).
bool IsOwnListener(const base::HostPort& listen, const base::HostPort& upstream) {
  if (listen.port == 0 || upstream.port != listen.port) return false;
  if (upstream.host == listen.host) return true;
  return IsLoopbackHost(base::Dialable(listen).host) && IsLoopbackHost(upstream.host);
}

std::string OwnListenerError(std::string_view upstream_flag, const base::HostPort& upstream,
                             std::string_view listen_flag) {
  return std::string(upstream_flag) + " " + upstream.ToString() + " is this sidecar's own " +
         std::string(listen_flag) + " address: every request would be proxied back to it; " +
         "point it at the inference server";
}

// Parses every address flag into `c`; the first invalid one is the error. gRPC and coordinator
// addresses stay strings (their libraries take them so), but are checked here all the same.
base::Result<bool> ApplyAddresses(const AddressFlags& a, SidecarConfig& c) {
  const auto listen = ParseHostPort(a.listen, "--listen");
  const auto upstream = ParseHostPort(a.upstream, "--upstream");
  const auto admin = ParseHostPort(a.admin, "--admin");
  for (const auto* address : {&listen, &upstream, &admin}) {
    if (!*address) return base::Result<bool>::Error(address->error());
  }
  const std::pair<const char*, const std::string*> optional[] = {{"--grpc-listen", &c.grpc_listen},
                                                                 {"--coordinator", &c.coordinator}};
  for (const auto& [flag, value] : optional) {
    if (value->empty()) continue;
    if (auto parsed = ParseHostPort(*value, flag); !parsed) {
      return base::Result<bool>::Error(parsed.error());
    }
  }
  const auto grpc_upstream = ParseHostPort(c.grpc_upstream, "--grpc-upstream");
  if (!grpc_upstream) return base::Result<bool>::Error(grpc_upstream.error());
  if (IsOwnListener(*listen, *upstream)) {
    return base::Result<bool>::Error(OwnListenerError("--upstream", *upstream, "--listen"));
  }
  if (!c.grpc_listen.empty() &&
      IsOwnListener(*ParseHostPort(c.grpc_listen, "--grpc-listen"), *grpc_upstream)) {
    return base::Result<bool>::Error(
        OwnListenerError("--grpc-upstream", *grpc_upstream, "--grpc-listen"));
  }
  c.proxy.listen_host = listen->host;
  c.proxy.listen_port = listen->port;
  c.proxy.upstream_host = upstream->host;
  c.proxy.upstream_port = upstream->port;
  c.admin = *admin;
  return base::Result<bool>::Ok(true);
}

}  // namespace

std::optional<SidecarConfig> ParseFlags(int argc, const char* const* argv, int& exit_code) {
  SidecarConfig c;
  CLI::App app{
      "lagscale-sidecar: an HTTP/1.1 and gRPC reverse proxy in front of one inference "
      "server that counts per-model inference lag"};
  app.set_version_flag("--version", std::string("lagscale-sidecar ") + lagscale::kVersion + " (" +
                                        lagscale::kRevision + ")");
  // A flag given twice takes its last value, so wrappers can append overrides.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  AddressFlags addresses;
  std::vector<std::string> extra_openai_paths;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  AddProxyFlags(app, c, addresses, threads, extra_openai_paths);
  AddTimeoutFlags(app, c);
  AddGrpcAndReportFlags(app, c);
  app.add_option("--log-level", c.log_level, "trace|debug|info|warn|error|critical|off")
      ->envname("LAGSCALE_LOG_LEVEL")
      ->check(
          CLI::IsMember(std::vector<std::string>(base::kLogLevels.begin(), base::kLogLevels.end())))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  if (auto applied = ApplyAddresses(addresses, c); !applied) {
    std::fprintf(stderr, "%s\nRun with --help for more information.\n", applied.error().c_str());
    exit_code = static_cast<int>(CLI::ExitCodes::ValidationError);
    return std::nullopt;
  }
  c.proxy.threads = threads;
  c.proxy.routing.openai_paths.insert(c.proxy.routing.openai_paths.end(),
                                      extra_openai_paths.begin(), extra_openai_paths.end());
  if (c.pod_name.empty()) {
    const char* pod = std::getenv("POD_NAME");
    c.pod_name = pod != nullptr && *pod != '\0' ? pod : Hostname();
    if (!base::IsValidIdentityName(c.pod_name)) {
      std::fprintf(stderr,
                   "--pod-name: POD_NAME or the host name \"%s\" is not a valid name "
                   "(expected [A-Za-z0-9._-]); set --pod-name\n",
                   c.pod_name.substr(0, 64).c_str());
      exit_code = static_cast<int>(CLI::ExitCodes::ValidationError);
      return std::nullopt;
    }
  }
  exit_code = 0;
  return c;
}

}  // namespace lagscale::sidecar
