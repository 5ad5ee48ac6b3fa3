#include "sidecar/admin_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>
#include <string>

#include "lagscale/base/tcp_address.h"
#include "lagscale/base/thread_name.h"

namespace lagscale::sidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// One admin client connection: read a request, answer it, repeat while keep-alive.
class AdminSession : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(tcp::socket socket, const AdminServer::Sources& sources)
      : stream_(std::move(socket)), sources_(sources) {}

  void Read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](const error_code& ec, size_t) {
                       if (ec) return self->Shutdown();
                       self->Handle();
                     });
  }

 private:
  void Handle() {
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      return Respond(http::status::method_not_allowed, "text/plain", "only GET\n");
    }
    if (path == "/healthz") return Respond(http::status::ok, "text/plain", "ok\n");
    if (path == "/stats") {
      return Respond(http::status::ok, "application/json",
                     metrics::StatsJson(sources_.ledger.Snapshot()));
    }
    if (path == "/metrics") {
      const auto accept = request_[http::field::accept];
      metrics::RenderedMetrics m =
          sources_.exposition.Render(std::string_view(accept.data(), accept.size()));
      return Respond(http::status::ok, m.content_type, std::move(m.body));
    }
    if (path == "/readyz") return ProbeUpstream();
    Respond(http::status::not_found, "text/plain", "not found\n");
  }

  // Ready = accepting and the inference server takes a connection within the probe timeout.
  void ProbeUpstream() {
    if (!sources_.accepting()) {
      return Respond(http::status::service_unavailable, "text/plain", "not accepting\n");
    }
    probe_ = std::make_unique<tcp::socket>(stream_.get_executor());
    timer_ = std::make_unique<asio::steady_timer>(stream_.get_executor());
    timer_->expires_after(sources_.probe_timeout);
    timer_->async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->probe_->close();
    });
    probe_->async_connect(sources_.upstream, [self = shared_from_this()](const error_code& ec) {
      self->timer_->cancel();
      self->probe_->close();
      if (ec) {
        return self->Respond(http::status::service_unavailable, "text/plain",
                             "upstream unreachable: " + ec.message() + "\n");
      }
      self->Respond(http::status::ok, "text/plain", "ready\n");
    });
  }

  void Respond(http::status status, std::string_view type, std::string body) {
    response_ = {status, request_.version()};
    response_.set(http::field::server, "lagscale-sidecar");
    response_.set(http::field::content_type, beast::string_view(type.data(), type.size()));
    response_.set(http::field::cache_control, "no-store");
    response_.keep_alive(request_.keep_alive());
    response_.body() = std::move(body);
    response_.prepare_payload();
    if (request_.method() == http::verb::head) response_.body().clear();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](const error_code& ec, size_t) {
                        if (ec || !self->response_.keep_alive()) return self->Shutdown();
                        self->Read();
                      });
  }

  void Shutdown() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  const AdminServer::Sources& sources_;
  std::unique_ptr<tcp::socket> probe_;
  std::unique_ptr<asio::steady_timer> timer_;
};

}  // namespace

AdminServer::AdminServer(Sources sources) : sources_(std::move(sources)) {}

AdminServer::~AdminServer() { Stop(); }

uint16_t AdminServer::Start(const HostPort& address) {
  const uint16_t port = base::ListenTcp(acceptor_, address, "--admin").OrThrow();
  Accept();
  thread_ = std::thread([this] {
    base::NameThisThread("admin");
    io_.run();
  });
  return port;
}

void AdminServer::Accept() {
  acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::make_shared<AdminSession>(std::move(socket), sources_)->Read();
    } else if (ec != asio::error::connection_aborted) {
      // Out of descriptors (or memory): the connection stays queued and the listener readable, so
      // accepting again at once would spin a core exactly when the pod is in trouble. The
      // queued probe is answered once descriptors are free.
      accept_pause_.expires_after(base::kAcceptErrorPause);
      accept_pause_.async_wait([this](const error_code& wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    Accept();
  });
}

void AdminServer::Stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace lagscale::sidecar
