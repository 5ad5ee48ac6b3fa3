#pragma once

// HttpsServer: a small HTTPS (HTTP/1.1 over TLS 1.2+) endpoint on Boost.Beast + OpenSSL, one I/O
// thread, for the admission webhook. The certificate and key are PEM files; when their contents
// change (cert-manager or the kubelet rotating a Secret volume) the next connection is served
// with the new pair, checked at most once a second. A pair that does not load keeps the old one.
// Untrusted input: header and body limits (431, 413), 400 on malformed HTTP, 10 s per request.
// Thread safety: the handler runs on the server's thread; Stop() may be called from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

struct HttpsRequest {
  std::string method;
  std::string target;
  std::string content_type;
  std::string body;
};
using HttpsHandler = std::function<HttpReply(const HttpsRequest& request)>;

struct HttpsOptions {
  std::string listen;              // HOST:PORT (port 0: the OS chooses)
  std::string cert_file;           // PEM certificate chain
  std::string key_file;            // PEM private key
  std::string flag = "--webhook";  // prefix of the flags named in errors (<flag>-listen, ...)
  size_t body_limit = 4 << 20;
};

class HttpsServer {
 public:
  // Loads the certificate, binds and starts serving. Throws std::runtime_error naming the flag.
  HttpsServer(HttpsOptions options, HttpsHandler handler);
  ~HttpsServer();
  uint16_t port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lagscale::coordinator
