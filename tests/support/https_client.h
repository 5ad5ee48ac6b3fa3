#pragma once

// Test support: one HTTPS request (Boost.Beast + OpenSSL) that verifies the server against a CA
// file and reports which certificate the server presented, for tests of TLS endpoints.

#include <chrono>
#include <string>

namespace lagscale::testing {

struct HttpsResult {
  int status = 0;  // 0 when the request failed before a response (see error)
  std::string body;
  std::string error;
  std::string peer_serial;  // serial number (hex) of the certificate the server presented
  std::string tls_version;  // e.g. "TLSv1.3"
};

// `ca_file` verifies the server (and its name against the host of `host_port`).
HttpsResult Https(const std::string& method, const std::string& host_port,
                  const std::string& target, const std::string& body, const std::string& ca_file,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace lagscale::testing
