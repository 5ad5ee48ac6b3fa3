#pragma once

// gRPC's own log lines (a failed TLS handshake, a broken connection) through our logger, at
// --log-level, prefixed "grpc: ": gRPC's errors as warnings, its info as debug and its debug as
// trace (gRPC writes only errors unless GRPC_VERBOSITY says otherwise). Left to itself gRPC writes
// every line to stderr whatever --log-level says, so a peer failing handshakes in a loop floods
// the log. Here each gRPC call site shows at most one line per kGrpcLogInterval, and the next line
// it shows says how many were held back. The "assertion failed" line gRPC writes just before it
// aborts always shows, as critical.
// Header-only, for the binaries that link gRPC anyway (lagscale_base itself does not).
// Thread safety: call RouteGrpcLogs() once, after SetUpLogging(), before gRPC starts; the routing
// itself is safe from any thread.

#include <grpc/support/log.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>

namespace lagscale::base {

inline constexpr std::chrono::seconds kGrpcLogInterval{10};

namespace grpc_logging {

// What is remembered per gRPC call site: when a line last showed, how many were held back since.
struct CallSite {
  std::chrono::steady_clock::time_point shown;
  uint64_t held_back = 0;
};

inline std::mutex mu;
// Keyed by the file pointer gRPC passes (a string literal per call site) and the line: bounded.
inline std::map<std::pair<const char*, int>, CallSite> sites;  // guarded by mu

inline void Log(gpr_log_func_args* args) {
  const std::string_view message = args->message ? args->message : "";
  if (message.starts_with("assertion failed")) {
    spdlog::critical("grpc: {}", message);
    return;
  }
  const auto level = args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::warn
                     : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::debug
                                                               : spdlog::level::trace;
  if (!spdlog::should_log(level)) return;
  const auto now = std::chrono::steady_clock::now();
  uint64_t held_back = 0;
  {
    std::lock_guard lock(mu);
    auto [site, first] = sites.try_emplace({args->file, args->line});
    if (!first && now - site->second.shown < kGrpcLogInterval) {
      ++site->second.held_back;
      return;
    }
    held_back = std::exchange(site->second.held_back, 0);
    site->second.shown = now;
  }
  if (held_back == 0) {
    spdlog::log(level, "grpc: {}", message);
  } else {
    spdlog::log(level, "grpc: {} ({} more like this in the last {} s not shown)", message,
                held_back, kGrpcLogInterval.count());
  }
}

}  // namespace grpc_logging

inline void RouteGrpcLogs() { gpr_set_log_function(grpc_logging::Log); }

}  // namespace lagscale::base
