#pragma once
// Internal to scaler-client/: the channel credentials of the report stream.

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <memory>
#include <optional>

#include "lagscale/base/last_good.h"
#include "lagscale/base/tls_files.h"
#include "lagscale/scaler_client/reporter.h"

namespace lagscale::scaler_client {

// Plaintext when no CA file is set; otherwise TLS trusting the CA bundle in options.ca_file and,
// if a client certificate is set, presenting it. Each connection attempt gets credentials made
// from the files as last read and checked (base::ReadTlsFiles): they are read again once
// options.tls_reload_interval has passed, so a rotated certificate is used by the next
// connection, and a rotation to files that do not make a good set (empty, half-written, a key
// that is not the certificate's) keeps the last good set, logged once per distinct error, where
// gRPC's own watcher would abort or fail every handshake.
// Thread safety: construct on one thread, then call Credentials() from one thread at a time.
class ReportChannelTls {
 public:
  // Reads and checks the files. Throws std::runtime_error naming the flag and the file when a file
  // is missing, unreadable or not PEM, when the key is not the certificate's, or when only one of
  // the client certificate and key is set.
  explicit ReportChannelTls(const ReporterOptions& options);
  std::shared_ptr<grpc::ChannelCredentials> Credentials();

 private:
  std::shared_ptr<grpc::ChannelCredentials> Make() const;

  const std::chrono::milliseconds interval_;
  std::optional<base::LastGood<base::TlsPem>> pem_;  // empty without TLS
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
};

}  // namespace lagscale::scaler_client
