#include "tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <utility>

namespace lagscale::scaler_client {
namespace {

base::TlsFileSet FileSet(const ReporterOptions& o) {
  const bool client_cert = !o.cert_file.empty() || !o.key_file.empty();
  if (o.ca_file.empty() && client_cert) {
    throw std::runtime_error(
        "--coordinator-cert/--coordinator-key need --coordinator-ca (TLS to the coordinator)");
  }
  return {o.ca_file,          o.cert_file,          o.key_file,
          "--coordinator-ca", "--coordinator-cert", "--coordinator-key"};
}

}  // namespace

ReportChannelTls::ReportChannelTls(const ReporterOptions& o) : interval_(o.tls_reload_interval) {
  if (base::TlsFileSet files = FileSet(o); !files.ca.empty()) {
    pem_.emplace([files] { return base::ReadTlsFiles(files); },
                 "reporting with the last good TLS files");
  }
  credentials_ = Make();
}

std::shared_ptr<grpc::ChannelCredentials> ReportChannelTls::Credentials() {
  if (pem_ && pem_->RereadEvery(interval_)) {
    credentials_ = Make();
    spdlog::info("TLS files to the coordinator changed; the next connection uses them");
  }
  return credentials_;
}

std::shared_ptr<grpc::ChannelCredentials> ReportChannelTls::Make() const {
  if (!pem_) return grpc::InsecureChannelCredentials();
  const base::TlsPem& pem = pem_->value();
  using grpc::experimental::IdentityKeyCertPair;
  std::vector<IdentityKeyCertPair> pairs;
  if (!pem.cert.empty()) pairs.push_back(IdentityKeyCertPair{pem.key, pem.cert});
  auto provider =
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(pem.ca, pairs);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(std::move(provider));
  tls.watch_root_certs();
  if (!pairs.empty()) tls.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(tls);
}

}  // namespace lagscale::scaler_client
