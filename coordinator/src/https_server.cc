// Beast HTTPS server as Asio coroutines: accept loop + one coroutine per connection, each
// connection served with the TLS context current when it was accepted.
#include "lagscale/coordinator/https_server.h"

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio.hpp>
// clang-format on
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>

#include "http_reply.h"
#include "lagscale/base/text_file.h"
#include "listener.h"

namespace lagscale::coordinator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr auto kReloadCheckInterval = std::chrono::seconds(1);

// A PEM file's contents, or empty when it cannot be read right now (mid-rotation).
std::string ReadPem(const std::string& path) {
  auto pem = base::ReadSecretFile(path, "webhook");
  return pem ? std::move(*pem) : std::string();
}

// A server context for TLS 1.2 and later. Throws boost::system::system_error on bad PEM.
std::shared_ptr<ssl::context> MakeServerContext(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->use_certificate_chain(asio::buffer(cert));
  ctx->use_private_key(asio::buffer(key), ssl::context::pem);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    throw std::runtime_error("the private key does not match the certificate");
  }
  return ctx;
}

// The current TLS context; re-reads the PEM files when asked, at most once per interval.
// Thread safety: used only on the server's I/O thread.
class CertificateSource {
 public:
  explicit CertificateSource(const HttpsOptions& o)
      : cert_file_(o.cert_file), key_file_(o.key_file) {
    cert_ = base::ReadSecretFile(cert_file_, o.flag + "-cert").OrThrow();
    key_ = base::ReadSecretFile(key_file_, o.flag + "-key").OrThrow();
    try {
      ctx_ = MakeServerContext(cert_, key_);
    } catch (const std::exception& e) {
      throw std::runtime_error(o.flag + "-cert/" + o.flag + "-key: \"" + cert_file_ + "\", \"" +
                               key_file_ + "\": " + e.what());
    }
    checked_ = Clock::now();
  }

  std::shared_ptr<ssl::context> Current() {
    if (Clock::now() - checked_ < kReloadCheckInterval) return ctx_;
    checked_ = Clock::now();
    std::string cert = ReadPem(cert_file_), key = ReadPem(key_file_);
    if ((cert == cert_ && key == key_) || (cert == rejected_cert_ && key == rejected_key_)) {
      return ctx_;
    }
    try {
      ctx_ = MakeServerContext(cert, key);
      cert_ = std::move(cert);
      key_ = std::move(key);
      spdlog::info("webhook: serving the new certificate from {}", cert_file_);
    } catch (const std::exception& e) {
      // Mid-rotation the two files may briefly disagree: keep serving the old pair.
      spdlog::warn("webhook: keeping the previous certificate; {} / {} do not load: {}", cert_file_,
                   key_file_, e.what());
      rejected_cert_ = std::move(cert);
      rejected_key_ = std::move(key);
    }
    return ctx_;
  }

 private:
  std::string cert_file_, key_file_;
  std::string cert_, key_, rejected_cert_, rejected_key_;
  std::shared_ptr<ssl::context> ctx_;
  Clock::time_point checked_;
};

HttpReply Dispatch(const HttpsHandler& handler, http::request<http::string_body>& req) {
  try {
    return handler(HttpsRequest{std::string(req.method_string()), std::string(req.target()),
                                std::string(req[http::field::content_type]),
                                std::move(req.body())});
  } catch (const std::exception& e) {
    spdlog::error("webhook: handler failed: {}", e.what());
    return HttpReply{500, "application/json", R"({"error":"internal"})"};
  }
}

using Stream = beast::ssl_stream<beast::tcp_stream>;

asio::awaitable<void> Write(Stream& stream, HttpReply reply, unsigned version, bool keep_alive) {
  auto res = ResponseFor(std::move(reply), version, keep_alive);
  co_await http::async_write(stream, res, asio::use_awaitable);
}

asio::awaitable<void> Session(tcp::socket socket, std::shared_ptr<ssl::context> ctx,
                              const HttpsHandler& handler, size_t body_limit) {
  Stream stream(beast::tcp_stream(std::move(socket)), *ctx);
  beast::flat_buffer buffer;
  try {
    stream.next_layer().expires_after(kRequestTimeout);
    co_await stream.async_handshake(ssl::stream_base::server, asio::use_awaitable);
    for (;;) {
      stream.next_layer().expires_after(kRequestTimeout);
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(body_limit);
      beast::error_code ec;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (auto reply = ParseErrorReply(ec)) co_await Write(stream, std::move(*reply), 11, false);
        break;
      }
      auto& req = parser.get();
      const bool keep_alive = req.keep_alive();
      co_await Write(stream, Dispatch(handler, req), req.version(), keep_alive);
      if (!keep_alive) break;
    }
    stream.next_layer().expires_after(std::chrono::seconds(2));
    beast::error_code ignored;
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ignored));
  } catch (const boost::system::system_error&) {
    // Handshake failed, timed out or the peer went away: the connection ends here.
  }
}

}  // namespace

struct HttpsServer::Impl {
  // The certificate loads before the socket binds: a bad PEM is reported first.
  Impl(HttpsOptions o, HttpsHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        certs(options),
        listener(options.listen, options.flag + "-listen") {}

  HttpsOptions options;
  HttpsHandler handler;
  CertificateSource certs;  // used only on the listener's thread
  Listener listener;        // last: its sessions use the members above until it stops
};

HttpsServer::HttpsServer(HttpsOptions options, HttpsHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {
  impl_->listener.Start([this](tcp::socket socket) {
    asio::co_spawn(impl_->listener.io_context(),
                   Session(std::move(socket), impl_->certs.Current(), impl_->handler,
                           impl_->options.body_limit),
                   asio::detached);
  });
}

HttpsServer::~HttpsServer() { Stop(); }

uint16_t HttpsServer::port() const { return impl_->listener.port(); }

void HttpsServer::Stop() { impl_->listener.Stop(); }

}  // namespace lagscale::coordinator
