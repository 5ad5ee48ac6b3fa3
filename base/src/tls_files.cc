#include "lagscale/base/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "lagscale/base/text_file.h"

namespace lagscale::base {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

Bio Open(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
}

// The first certificate in `pem`; null when there is none.
std::unique_ptr<X509, decltype(&X509_free)> FirstCertificate(const std::string& pem) {
  Bio bio = Open(pem);
  return {PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free};
}

// An empty passphrase callback: an encrypted key is an error, never a prompt on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

std::string Quoted(const std::string& path) { return "\"" + path + "\""; }

}  // namespace

Result<TlsPem> ReadTlsFiles(const TlsFileSet& files) {
  using Out = Result<TlsPem>;
  TlsPem pem;
  // Read as secrets: a file that is empty (or only whitespace) is an error naming the flag.
  const std::pair<const std::string*, std::string*> reads[] = {
      {&files.ca, &pem.ca}, {&files.cert, &pem.cert}, {&files.key, &pem.key}};
  const std::string* flags[] = {&files.ca_flag, &files.cert_flag, &files.key_flag};
  for (size_t i = 0; i < 3; ++i) {
    if (reads[i].first->empty()) continue;
    auto text = ReadSecretFile(*reads[i].first, *flags[i]);
    if (!text) return Out::Error(text.error());
    *reads[i].second = std::move(*text) + "\n";
  }
  if (!files.ca.empty() && !FirstCertificate(pem.ca)) {
    return Out::Error(files.ca_flag + ": " + Quoted(files.ca) + " holds no PEM certificate");
  }
  if (files.cert.empty() != files.key.empty()) {
    return Out::Error(files.cert_flag + " and " + files.key_flag + " go together; got only " +
                      (files.cert.empty() ? files.key_flag : files.cert_flag));
  }
  if (files.cert.empty()) return Out::Ok(std::move(pem));
  const auto cert = FirstCertificate(pem.cert);
  if (!cert) {
    return Out::Error(files.cert_flag + ": " + Quoted(files.cert) + " holds no PEM certificate");
  }
  Bio key_bio = Open(pem.key);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr), EVP_PKEY_free);
  ERR_clear_error();  // what failed is said below; OpenSSL's queue is not ours to leave filled
  if (!key) {
    return Out::Error(files.key_flag + ": " + Quoted(files.key) +
                      " holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Out::Error(files.key_flag + ": " + Quoted(files.key) + " is not the key of " +
                      files.cert_flag + " " + Quoted(files.cert));
  }
  return Out::Ok(std::move(pem));
}

}  // namespace lagscale::base
