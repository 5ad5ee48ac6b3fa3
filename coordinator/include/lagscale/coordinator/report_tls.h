#pragma once

// ReportTls: TLS on the report stream's gRPC port. The coordinator presents --tls-cert/--tls-key
// and, with --tls-client-ca, requires every sidecar to present a certificate chaining to that CA
// (mutual TLS). The files are read again every reload interval, so a certificate rotated on disk
// (cert-manager renewing a Secret) is served from the next handshake on without a restart; a
// rotation to files that do not make a good set keeps the last good one (tls_copies.h). Without a
// certificate the port stays plaintext.
// Thread safety: construct, use and destroy from the start-up thread.

#include <chrono>
#include <memory>
#include <string>

namespace CLI {
class App;
}
namespace grpc {
class ServerCredentials;
}

namespace lagscale::coordinator {

struct ReportTlsOptions {
  std::string cert_file, key_file;  // both or neither
  std::string client_ca_file;       // optional; requires cert_file
  std::chrono::seconds reload_interval{60};
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Registers --tls-cert, --tls-key, --tls-client-ca and --tls-reload-interval (with their
// LAGSCALE_TLS_* environment variables) on `app`, filling `into`.
void AddReportTlsFlags(CLI::App& app, ReportTlsOptions& into);

class VerifiedTlsCopies;

// The report port's credentials: insecure when TLS is off; otherwise TLS from checked copies of
// the files, kept while the server runs.
class ReportServerTls {
 public:
  // Throws std::runtime_error naming the flag and the file when a file is unreadable, is not PEM,
  // or the key does not belong to the certificate, and when the flags are combined wrongly.
  explicit ReportServerTls(const ReportTlsOptions& options);
  ~ReportServerTls();
  const std::shared_ptr<grpc::ServerCredentials>& credentials() const { return credentials_; }

 private:
  std::unique_ptr<VerifiedTlsCopies> copies_;  // null without TLS
  std::shared_ptr<grpc::ServerCredentials> credentials_;
};

}  // namespace lagscale::coordinator
