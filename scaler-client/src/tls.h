#pragma once
// Internal to scaler-client/: the channel credentials of the report stream.

#include <grpcpp/security/credentials.h>

#include <memory>

#include "lagscale/scaler_client/reporter.h"

namespace lagscale::scaler_client {

// Plaintext when no CA file is set; otherwise TLS trusting the CA bundle in options.ca_file and,
// if a client certificate is set, presenting it. gRPC's file watcher re-reads the files every
// options.tls_reload_interval, so rotated certificates are used by the next connection.
// Throws std::runtime_error naming the flag when a file is missing, unreadable or not PEM, or when
// only one of the client certificate and key is set.
std::shared_ptr<grpc::ChannelCredentials> ReportChannelCredentials(const ReporterOptions& options);

}  // namespace lagscale::scaler_client
