#include "tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lagscale::scaler_client {
namespace {

// Start-up check only: a typo in a path must stop the sidecar, not fail every handshake later.
void RequirePem(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(flag + ": cannot read \"" + path + "\"");
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN ") == std::string::npos) {
    throw std::runtime_error(flag + ": \"" + path + "\" holds no PEM block");
  }
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> ReportChannelCredentials(const ReporterOptions& o) {
  const bool client_cert = !o.cert_file.empty() || !o.key_file.empty();
  if (o.ca_file.empty()) {
    if (client_cert) {
      throw std::runtime_error(
          "--coordinator-cert/--coordinator-key need --coordinator-ca (TLS to the coordinator)");
    }
    return grpc::InsecureChannelCredentials();
  }
  RequirePem(o.ca_file, "--coordinator-ca");
  if (client_cert) {
    if (o.cert_file.empty() || o.key_file.empty()) {
      throw std::runtime_error("--coordinator-cert and --coordinator-key go together; got only " +
                               std::string(o.cert_file.empty() ? "the key" : "the certificate"));
    }
    RequirePem(o.cert_file, "--coordinator-cert");
    RequirePem(o.key_file, "--coordinator-key");
  }
  const auto refresh = static_cast<unsigned>(
      std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(o.tls_reload_interval).count()));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.key_file, o.cert_file, o.ca_file, refresh);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(std::move(provider));
  tls.watch_root_certs();
  if (client_cert) tls.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(tls);
}

}  // namespace lagscale::scaler_client
