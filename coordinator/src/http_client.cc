// One-shot HTTP(S) requests with a deadline, written as an Asio coroutine run to completion.
#include "http_client.h"

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

#include "lagscale/coordinator/api_responses.h"
#include "lagscale/version.h"

namespace lagscale::coordinator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

template <class Stream>
asio::awaitable<void> Exchange(Stream& stream, http::request<http::string_body>& req,
                               OversizeBody oversize, HttpResponse& out) {
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxHttpBodyBytes);
  bool over_limit = false;
  try {
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    // Raised only once the status line and the header are in, so the status is known.
    if (e.code() != http::error::body_limit) throw;
    over_limit = true;
  }
  auto& res = parser.get();
  if (over_limit && oversize == OversizeBody::kFails) {
    out.error = "HTTP " + std::to_string(res.result_int()) + " with a body over the " +
                std::to_string(kMaxHttpBodyBytes / (1024 * 1024)) + " MiB limit";
    co_return;
  }
  out.status = static_cast<int>(res.result_int());
  if (!over_limit) out.body = std::move(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end()) {
    out.retry_after_s = ParseRetryAfter(std::string_view(it->value().data(), it->value().size()));
  }
}

// What the server's certificate must name: `host` as an IP address, or as a DNS name (which
// also goes out as SNI).
void ExpectPeerName(beast::ssl_stream<beast::tcp_stream>& stream, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
  boost::system::error_code not_an_address;
  asio::ip::make_address(host, not_an_address);
  if (!not_an_address) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    return;
  }
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
}

asio::awaitable<void> Run(const HttpEndpoint& ep, http::request<http::string_body>& req,
                          std::chrono::steady_clock::duration timeout, OversizeBody oversize,
                          HttpResponse& out) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto results = co_await resolver.async_resolve(ep.host, ep.port, asio::use_awaitable);
  if (!ep.tls) {
    beast::tcp_stream stream(ex);
    stream.expires_after(timeout);
    co_await stream.async_connect(results, asio::use_awaitable);
    co_await Exchange(stream, req, oversize, out);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(ex, *ep.ssl);
  beast::get_lowest_layer(stream).expires_after(timeout);
  ExpectPeerName(stream, ep.host);
  co_await beast::get_lowest_layer(stream).async_connect(results, asio::use_awaitable);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_await Exchange(stream, req, oversize, out);
}

}  // namespace

std::shared_ptr<asio::ssl::context> MakeClientTlsContext(const std::string& ca_pem,
                                                         const std::string& cert_pem,
                                                         const std::string& key_pem, bool verify) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  try {
    if (!ca_pem.empty()) {
      ctx->add_certificate_authority(asio::buffer(ca_pem));
    } else {
      ctx->set_default_verify_paths();
    }
    if (!cert_pem.empty()) {
      ctx->use_certificate_chain(asio::buffer(cert_pem));
      ctx->use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
    }
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(std::string("TLS setup: ") + e.what());
  }
  ctx->set_verify_mode(verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return ctx;
}

HttpResponse HttpCall(const HttpEndpoint& endpoint, const std::string& method,
                      const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      const std::string& body, double timeout_s, OversizeBody oversize) {
  http::request<http::string_body> req;
  req.method(http::string_to_verb(method));
  req.target(target);
  req.version(11);
  const bool default_port = endpoint.port == (endpoint.tls ? "443" : "80");
  req.set(http::field::host, default_port ? endpoint.host : endpoint.host + ":" + endpoint.port);
  req.set(http::field::user_agent, std::string("lagscale-coordinator/") + lagscale::kVersion);
  req.set(http::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    req.body() = body;
    req.prepare_payload();
  }
  HttpResponse out;
  asio::io_context ioc;
  const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(timeout_s));
  asio::co_spawn(ioc, Run(endpoint, req, timeout, oversize, out), [&out](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& err) {
      out.status = 0;
      out.error = err.code() == beast::error::timeout ? "timed out" : err.code().message();
    } catch (const std::exception& err) {
      out.status = 0;
      out.error = err.what();
    }
  });
  ioc.run();
  return out;
}

}  // namespace lagscale::coordinator
