#pragma once

// Test support: X.509 certificates made by the `openssl` command line at test time, in a
// temporary directory that is removed with the object. Nothing is committed: every run gets fresh
// keys and validity dates.
// Thread safety: not thread-safe.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/command.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {

class TestCertificates {
 public:
  std::string Path(const std::string& name) const { return dir_.Path(name); }

  // A self-signed CA: <name>.pem and <name>.key.
  void MakeCa(const std::string& name) {
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
        "/CN=" +
        name + " -keyout " + Path(name + ".key") + " -out " + Path(name + ".pem"));
  }
  // A leaf <name>.pem/.key signed by CA `ca`, valid for 127.0.0.1 and localhost. `days` -1 makes
  // one that expired before it began (OpenSSL puts notAfter a day before notBefore).
  void MakeLeaf(const std::string& name, const std::string& ca, int days = 2) {
    const std::string ext = Path(name + ".ext");
    std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                       << "extendedKeyUsage=serverAuth,clientAuth\n";
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name +
        " -keyout " + Path(name + ".key") + " -out " + Path(name + ".csr"));
    Run("openssl x509 -req -in " + Path(name + ".csr") + " -CA " + Path(ca + ".pem") + " -CAkey " +
        Path(ca + ".key") + " -CAcreateserial -days " + std::to_string(days) + " -extfile " + ext +
        " -out " + Path(name + ".pem"));
  }
  // Replaces `to` with a copy of `from` in one rename, as a Secret volume update does.
  void Install(const std::string& from, const std::string& to) const {
    const std::string tmp = to + ".tmp";
    std::filesystem::copy_file(from, tmp, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(tmp, to);
  }
  // Runs an `openssl` command line; the test fails when it does.
  static void Run(const std::string& command) {
    const CommandResult result = RunShell(command);
    ASSERT_EQ(result.exit_code, 0) << command << ": " << result.all();
  }

 private:
  ScratchDir dir_{"certs"};
};

}  // namespace lagscale::testing
