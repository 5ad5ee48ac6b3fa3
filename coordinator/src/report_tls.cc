// TLS server credentials for the report stream; see report_tls.h.
#include "lagscale/coordinator/report_tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <stdexcept>

#include "lagscale/base/flags.h"
#include "lagscale/base/tls_files.h"
#include "tls_copies.h"

namespace lagscale::coordinator {

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

ReportServerTls::ReportServerTls(const ReportTlsOptions& o) {
  if (!o.enabled()) {
    if (!o.client_ca_file.empty()) {
      throw std::runtime_error("--tls-client-ca \"" + o.client_ca_file +
                               "\" needs --tls-cert and --tls-key");
    }
    credentials_ = grpc::InsecureServerCredentials();
    return;
  }
  copies_ = std::make_unique<VerifiedTlsCopies>(
      base::TlsFileSet{o.client_ca_file, o.cert_file, o.key_file, "--tls-client-ca", "--tls-cert",
                       "--tls-key"},
      o.reload_interval);
  const bool mutual = !o.client_ca_file.empty();
  // The pair's file holds the chain and its key: gRPC reads it as both. It reads the private
  // copies every second, so a rotation waits only for our own reload interval.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      copies_->pair(), copies_->pair(), copies_->ca(), /*refresh_interval_sec=*/1);
  grpc::experimental::TlsServerCredentialsOptions tls(std::move(provider));
  tls.watch_identity_key_cert_pairs();
  if (mutual) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  credentials_ = grpc::experimental::TlsServerCredentials(tls);
}

ReportServerTls::~ReportServerTls() = default;

}  // namespace lagscale::coordinator
