// TLS server credentials for the report stream; see report_tls.h.
#include "lagscale/coordinator/report_tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <stdexcept>

#include "lagscale/base/flags.h"
#include "lagscale/base/text_file.h"

namespace lagscale::coordinator {
namespace {

// PEM files are secrets too: read once, the same way, with errors naming the flag.
std::string ReadFile(const std::string& path, const std::string& flag) {
  return base::ReadSecretFile(path, flag).OrThrow();
}

// A wrong or mismatched file must stop start-up, not fail every sidecar's handshake later.
void CheckKeyPair(const ReportTlsOptions& o) {
  const std::string cert_pem = ReadFile(o.cert_file, "--tls-cert");
  const std::string key_pem = ReadFile(o.key_file, "--tls-key");
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) throw std::runtime_error("--tls-cert: \"" + o.cert_file + "\" holds no certificate");
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) throw std::runtime_error("--tls-key: \"" + o.key_file + "\" holds no private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    throw std::runtime_error("--tls-key: \"" + o.key_file + "\" is not the key of --tls-cert \"" +
                             o.cert_file + "\"");
  }
}

}  // namespace

void AddReportTlsFlags(CLI::App& app, ReportTlsOptions& into) {
  app.add_option("--tls-cert", into.cert_file,
                 "PEM certificate (chain) served on the gRPC port; enables TLS")
      ->envname("LAGSCALE_TLS_CERT");
  app.add_option("--tls-key", into.key_file, "PEM private key of --tls-cert")
      ->envname("LAGSCALE_TLS_KEY");
  app.add_option("--tls-client-ca", into.client_ca_file,
                 "CA bundle sidecars' client certificates must chain to (mutual TLS)")
      ->envname("LAGSCALE_TLS_CLIENT_CA");
  // Read as every coordinator duration flag is (base::ParseDurationFlag, a bare number is
  // seconds); gRPC's file watcher counts whole seconds, so a fraction is rounded up.
  app.add_option_function<std::string>(
         "--tls-reload-interval",
         [&into](const std::string& text) {
           const auto d =
               base::ParseDurationFlag(text, "--tls-reload-interval",
                                       base::DurationSyntax{.bare = base::BareNumber::kSeconds,
                                                            .max = std::chrono::hours(24)});
           if (!d) throw CLI::ValidationError(d.error());
           if (d->count() < 1) {
             throw CLI::ValidationError("--tls-reload-interval: \"" + text +
                                        "\" is below the least interval, 1s");
           }
           into.reload_interval = std::chrono::seconds(static_cast<int64_t>(std::ceil(d->count())));
         },
         "how often the TLS files are re-read for rotation (default 60s)")
      ->type_name("DURATION")
      ->envname("LAGSCALE_TLS_RELOAD_INTERVAL");
}

std::shared_ptr<grpc::ServerCredentials> ReportServerCredentials(const ReportTlsOptions& o) {
  if (!o.enabled()) {
    if (!o.client_ca_file.empty()) {
      throw std::runtime_error("--tls-client-ca \"" + o.client_ca_file +
                               "\" needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (o.cert_file.empty() || o.key_file.empty()) {
    throw std::runtime_error(std::string("--tls-cert and --tls-key go together; got only ") +
                             (o.cert_file.empty() ? "--tls-key" : "--tls-cert"));
  }
  CheckKeyPair(o);
  const bool mutual = !o.client_ca_file.empty();
  if (mutual &&
      ReadFile(o.client_ca_file, "--tls-client-ca").find("-----BEGIN ") == std::string::npos) {
    throw std::runtime_error("--tls-client-ca: \"" + o.client_ca_file + "\" holds no PEM block");
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.key_file, o.cert_file, o.client_ca_file, static_cast<unsigned>(o.reload_interval.count()));
  grpc::experimental::TlsServerCredentialsOptions tls(std::move(provider));
  tls.watch_identity_key_cert_pairs();
  if (mutual) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

}  // namespace lagscale::coordinator
