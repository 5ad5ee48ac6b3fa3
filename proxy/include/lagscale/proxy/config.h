#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "lagscale/proxy/model_router.h"

namespace lagscale::proxy {

// ProxyConfig: everything the HTTP/1.1 proxy needs to know, filled from flags by the sidecar.
// A plain value; copy it freely.
struct ProxyConfig {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 8000;
  std::string upstream_host = "127.0.0.1";
  uint16_t upstream_port = 9000;
  size_t threads = 1;
  // Model headers and OpenAI-compatible paths.
  ModelRouting routing;
  // Request line plus header fields, in bytes; more gets 431.
  size_t max_header_bytes = 65536;
  // Request body limit in bytes; 0 = unlimited. More gets 413.
  uint64_t max_body_bytes = 0;
  // Time to receive a complete request head once its first byte arrived (408 after it).
  std::chrono::milliseconds header_timeout{10'000};
  // How long a keep-alive client connection may sit between requests.
  std::chrono::milliseconds idle_timeout{60'000};
  // Time one attempt to open an upstream connection gets. Longer than Linux's initial SYN
  // retransmission timeout (1 s), so a SYN dropped by a full listen backlog is retried by the
  // kernel within the attempt instead of failing it.
  std::chrono::milliseconds connect_timeout{3'000};
  // Attempts to open an upstream connection for one request (refused, reset or timed out), with a
  // short backoff between them, within the request's --upstream-timeout; 502 after the last.
  int connect_attempts = 3;
  // Longest silence from the upstream while a response is due or streaming (504 after it).
  std::chrono::milliseconds upstream_timeout{300'000};
  // Longest a write of response bytes to a client may take (a client that stops reading);
  // the request then ends as client_abort and its upstream connection is closed.
  std::chrono::milliseconds client_write_timeout{60'000};
  // Idle upstream connections kept per I/O thread.
  size_t max_idle_upstream = 256;
};

}  // namespace lagscale::proxy
