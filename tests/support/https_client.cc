#include "support/https_client.h"

#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "lagscale/base/host_port.h"
#include "lagscale/base/tcp_address.h"

namespace lagscale::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;

std::string SerialOf(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(cert);
  return out;
}

}  // namespace

HttpsResult Https(const std::string& method, const std::string& host_port,
                  const std::string& target, const std::string& body, const std::string& ca_file,
                  std::chrono::milliseconds timeout) {
  HttpsResult result;
  try {
    asio::io_context io;
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
    const base::HostPort address = base::ParseHostPort(host_port).OrThrow();
    const std::string& host = address.host;
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    // Verify the name (or IP) the client dialled, as the API server does.
    X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
      SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    }
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).connect(base::ResolveTcp(address, "address").OrThrow());
    stream.handshake(ssl::stream_base::client);
    result.peer_serial = SerialOf(stream.native_handle());
    result.tls_version = SSL_get_version(stream.native_handle());
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_port);
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    result.status = res.result_int();
    result.body = std::move(res.body());
    beast::error_code ignored;
    stream.shutdown(ignored);
  } catch (const std::exception& e) {
    result.status = 0;
    result.error = e.what();
  }
  return result;
}

}  // namespace lagscale::testing
