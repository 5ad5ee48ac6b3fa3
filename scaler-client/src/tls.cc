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

ReportChannelTls::ReportChannelTls(const ReporterOptions& o)
    : files_(FileSet(o)), interval_(o.tls_reload_interval) {
  if (!files_.ca.empty()) pem_ = base::ReadTlsFiles(files_).OrThrow();
  read_at_ = std::chrono::steady_clock::now();
  credentials_ = Make();
}

std::shared_ptr<grpc::ChannelCredentials> ReportChannelTls::Credentials() {
  const auto now = std::chrono::steady_clock::now();
  if (files_.ca.empty() || now - read_at_ < interval_) return credentials_;
  read_at_ = now;
  auto pem = base::ReadTlsFiles(files_);
  if (!pem) {
    if (pem.error() != error_) {
      spdlog::error("{}; reporting with the last good TLS files", pem.error());
    }
    error_ = pem.error();
    return credentials_;
  }
  error_.clear();
  if (*pem != pem_) {
    pem_ = std::move(*pem);
    credentials_ = Make();
    spdlog::info("TLS files to the coordinator changed; the next connection uses them");
  }
  return credentials_;
}

std::shared_ptr<grpc::ChannelCredentials> ReportChannelTls::Make() const {
  if (files_.ca.empty()) return grpc::InsecureChannelCredentials();
  using grpc::experimental::IdentityKeyCertPair;
  std::vector<IdentityKeyCertPair> pairs;
  if (!files_.cert.empty()) pairs.push_back(IdentityKeyCertPair{pem_.key, pem_.cert});
  auto provider =
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(pem_.ca, pairs);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(std::move(provider));
  tls.watch_root_certs();
  if (!pairs.empty()) tls.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(tls);
}

}  // namespace lagscale::scaler_client
