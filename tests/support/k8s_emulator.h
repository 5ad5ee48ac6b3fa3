#pragma once

// A Kubernetes API server emulator for the coordinator's tests: HTTPS with a certificate from a
// test CA made at test time with the `openssl` CLI, serving whatever replies a test scripts (the
// scale subresource's JSON, 403/404/409/429+Retry-After/500, or a hang) and recording method,
// path, headers and body of every request so tests can check them exactly.

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/coordinator_harness.h"

namespace lagscale::testing {

// A throw-away PKI: CA, a server certificate for IP 127.0.0.1, and a client certificate.
struct TestPki {
  std::string dir;
  std::string ca_pem, server_cert_pem, server_key_pem, client_cert_pem, client_key_pem;

  TestPki() {
    char tmpl[] = "/tmp/lagscale-pki-XXXXXX";
    dir = mkdtemp(tmpl);
    const std::string script =
        "cd " + dir +
        " && "
        "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
        "openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=lagscale-test-ca "
        "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
        ">/dev/null 2>&1 && "
        "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1 >/dev/null 2>&1 && "
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile server.ext -out server.crt >/dev/null 2>&1 && "
        "openssl req $K -keyout client.key -out client.csr -subj /CN=lagscale-coordinator "
        ">/dev/null 2>&1 && "
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile client.ext -out client.crt >/dev/null 2>&1";
    if (std::system(script.c_str()) != 0) throw std::runtime_error("openssl failed in " + dir);
    ca_pem = Read("ca.crt");
    server_cert_pem = Read("server.crt");
    server_key_pem = Read("server.key");
    client_cert_pem = Read("client.crt");
    client_key_pem = Read("client.key");
  }
  ~TestPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string Path(const std::string& name) const { return dir + "/" + name; }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

class KubeEmulator : public ScriptedHttpServer {
 public:
  explicit KubeEmulator(const TestPki& pki)
      : ScriptedHttpServer(/*start=*/false), ssl_(boost::asio::ssl::context::tls_server) {
    ssl_.use_certificate_chain(boost::asio::buffer(pki.server_cert_pem));
    ssl_.use_private_key(boost::asio::buffer(pki.server_key_pem), boost::asio::ssl::context::pem);
    // Ask for a client certificate (accepted when absent; recorded when verified).
    ssl_.add_certificate_authority(boost::asio::buffer(pki.ca_pem));
    ssl_.set_verify_mode(boost::asio::ssl::verify_peer);
    Start();
  }
  ~KubeEmulator() override { Stop(); }

  // The JSON of a Scale object, as the API server returns it.
  static std::string ScaleJson(const std::string& name, const std::string& ns, int replicas) {
    return "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"" +
           name + "\",\"namespace\":\"" + ns +
           "\"},\"spec\":{\"replicas\":" + std::to_string(replicas) +
           "},\"status\":{\"replicas\":" + std::to_string(replicas) + "}}";
  }
  static std::string StatusJson(int code, const std::string& reason, const std::string& message) {
    return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"" +
           message + "\",\"reason\":\"" + reason + "\",\"code\":" + std::to_string(code) + "}";
  }

 protected:
  bool tls() const override { return true; }
  void Serve(boost::asio::ip::tcp::socket socket) override {
    try {
      boost::beast::ssl_stream<boost::asio::ip::tcp::socket&> stream(socket, ssl_);
      stream.handshake(boost::asio::ssl::stream_base::server);
      X509* peer = SSL_get_peer_certificate(stream.native_handle());
      const bool client_cert = peer && SSL_get_verify_result(stream.native_handle()) == X509_V_OK;
      if (peer) X509_free(peer);
      Exchange(stream, client_cert);
      boost::system::error_code ec;
      stream.shutdown(ec);
    } catch (const std::exception&) {
      // The client gave up (its timeout during a hang) or refused our certificate.
    }
  }

 private:
  boost::asio::ssl::context ssl_;
};

}  // namespace lagscale::testing
