#include "lagscale/base/tls_files.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/openssl_certs.h"

namespace lagscale::base {
namespace {

class TlsFilesTest : public ::testing::Test {
 protected:
  TlsFilesTest() {
    certs_.MakeCa("ca");
    certs_.MakeLeaf("a", "ca");
    certs_.MakeLeaf("b", "ca");
  }
  TlsFileSet Set(const std::string& ca, const std::string& cert, const std::string& key) const {
    auto path = [&](const std::string& name) { return name.empty() ? "" : certs_.Path(name); };
    return {path(ca), path(cert), path(key), "--ca", "--cert", "--key"};
  }
  std::string Error(const TlsFileSet& set) const {
    const auto pem = ReadTlsFiles(set);
    return pem ? "" : pem.error();
  }

  testing::TestCertificates certs_;
};

TEST_F(TlsFilesTest, AGoodSetIsReadAsPem) {
  const auto pem = ReadTlsFiles(Set("ca.pem", "a.pem", "a.key"));
  ASSERT_TRUE(pem) << pem.error();
  EXPECT_EQ(pem->cert.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_NE(pem->key.find("PRIVATE KEY-----"), std::string::npos);
  EXPECT_TRUE(ReadTlsFiles(Set("ca.pem", "", ""))) << "a CA alone (TLS without a client pair)";
}

// What gRPC would abort on (an empty file) or fail every handshake with (a key that is not the
// certificate's) is an error naming the flag and the file.
TEST_F(TlsFilesTest, WhatGrpcCannotUseIsAnErrorNamingTheFlagAndTheFile) {
  std::ofstream(certs_.Path("empty")) << "\n";
  std::ofstream(certs_.Path("half.pem")) << "-----BEGIN CERTIFICATE-----\nMIIB\n";
  const std::string key = certs_.Path("a.key");
  EXPECT_EQ(Error(Set("ca.pem", "a.pem", "b.key")), "--key: \"" + certs_.Path("b.key") +
                                                        "\" is not the key of --cert \"" +
                                                        certs_.Path("a.pem") + "\"");
  EXPECT_EQ(Error(Set("ca.pem", "a.pem", "empty")),
            "--key: \"" + certs_.Path("empty") + "\" is empty");
  EXPECT_EQ(Error(Set("ca.pem", "half.pem", "a.key")),
            "--cert: \"" + certs_.Path("half.pem") + "\" holds no PEM certificate");
  EXPECT_EQ(Error(Set("a.key", "", "")), "--ca: \"" + key + "\" holds no PEM certificate");
  EXPECT_EQ(Error(Set("ca.pem", "a.pem", "a.pem")),
            "--key: \"" + certs_.Path("a.pem") + "\" holds no unencrypted PEM private key");
  EXPECT_EQ(Error(Set("ca.pem", "a.pem", "")), "--cert and --key go together; got only --cert");
  EXPECT_EQ(Error(Set("ca.pem", "a.pem", "missing.key")),
            "--key: cannot read \"" + certs_.Path("missing.key") + "\"");
}

// An encrypted key would make OpenSSL ask for a passphrase on the terminal; it is an error instead.
TEST_F(TlsFilesTest, AnEncryptedKeyIsAnErrorNotAPrompt) {
  testing::TestCertificates::Run("openssl pkcs8 -topk8 -in " + certs_.Path("a.key") + " -out " +
                                 certs_.Path("encrypted.key") + " -passout pass:secret");
  EXPECT_EQ(Error(Set("ca.pem", "a.pem", "encrypted.key")),
            "--key: \"" + certs_.Path("encrypted.key") + "\" holds no unencrypted PEM private key");
}

}  // namespace
}  // namespace lagscale::base
