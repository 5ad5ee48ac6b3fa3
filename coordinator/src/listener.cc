#include "listener.h"

#include "lagscale/base/tcp_address.h"
#include "lagscale/base/thread_name.h"
#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// "--http-listen" -> "http": the thread is named after what it serves.
std::string ThreadNameOf(std::string flag) {
  if (flag.rfind("--", 0) == 0) flag.erase(0, 2);
  const std::string suffix = "-listen";
  if (flag.size() > suffix.size() && flag.compare(flag.size() - suffix.size(), suffix.size(),
                                                  suffix) == 0) {
    flag.resize(flag.size() - suffix.size());
  }
  return flag;
}

}  // namespace

Listener::Listener(const std::string& listen, const std::string& flag)
    : thread_name_(ThreadNameOf(flag)) {
  const auto [host, port] = SplitHostPort(listen, flag);
  base::ListenTcp(acceptor_, {host, port}, flag).OrThrow();
}

Listener::~Listener() { Stop(); }

void Listener::Start(OnAccept on_accept) {
  on_accept_ = std::move(on_accept);
  asio::co_spawn(ioc_, AcceptLoop(), asio::detached);
  thread_ = std::thread([this] {
    base::NameThisThread(thread_name_);
    ioc_.run();
  });
}

void Listener::Stop() {
  if (!thread_.joinable()) return;
  ioc_.stop();
  thread_.join();
}

asio::awaitable<void> Listener::AcceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    on_accept_(std::move(socket));
  }
}

}  // namespace lagscale::coordinator
