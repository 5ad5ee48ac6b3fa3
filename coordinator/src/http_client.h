#pragma once

// HttpClient: one HTTP/1.1 request over a fresh connection (plain or TLS) with an overall
// deadline, for the actuators. Boost.Beast + OpenSSL; no connection reuse (actuations are rare).
// Thread safety: Call() is safe from any thread; an endpoint's TLS context is shared read-only.

#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lagscale::coordinator {

struct HttpEndpoint {
  std::string host;
  std::string port;
  bool tls = false;
  std::string base_path;                           // path part of the URL ("" or "/admin/scale")
  std::shared_ptr<boost::asio::ssl::context> ssl;  // required when tls
};

// Splits http(s)://host[:port][/path]. Boost 1.74 predates Boost.URL, so this is a regex over the
// RFC 3986 shape, limited to what an endpoint needs. nullopt when the URL does not fit, or is
// longer than kMaxHttpUrlLength.
constexpr size_t kMaxHttpUrlLength = 2048;
std::optional<HttpEndpoint> ParseHttpUrl(const std::string& url);

// A TLS client context verifying against `ca_pem` (system CAs when empty), optionally presenting
// a client certificate. Throws std::runtime_error with OpenSSL's reason on bad PEM.
std::shared_ptr<boost::asio::ssl::context> MakeClientTlsContext(const std::string& ca_pem,
                                                                const std::string& cert_pem,
                                                                const std::string& key_pem,
                                                                bool verify = true);

struct HttpResponse {
  int status = 0;  // 0 = no response (see error)
  std::string body;
  double retry_after_s = -1;
  std::string error;
};

// The most of a response body HttpCall reads.
constexpr size_t kMaxHttpBodyBytes = 8 * 1024 * 1024;

// What becomes of a response whose body is over kMaxHttpBodyBytes. Its status is known either way
// (the limit is hit after the header).
enum class OversizeBody {
  kFails,    // no response (status 0); the error names the status. For a caller that reads the body
  kDropped,  // the status and headers stand, the body is left empty. For a caller that needs the
             // status only (a webhook's receiver answers with its status)
};

HttpResponse HttpCall(const HttpEndpoint& endpoint, const std::string& method,
                      const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      const std::string& body, double timeout_s,
                      OversizeBody oversize = OversizeBody::kFails);

}  // namespace lagscale::coordinator
