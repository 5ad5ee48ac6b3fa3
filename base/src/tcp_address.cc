#include "lagscale/base/tcp_address.h"

#include <boost/asio/io_context.hpp>
#include <string>

namespace lagscale::base {

namespace asio = boost::asio;
using asio::ip::tcp;

Result<tcp::endpoint> ResolveTcp(const HostPort& address, std::string_view setting) {
  asio::io_context io;
  boost::system::error_code ec;
  auto results = tcp::resolver(io).resolve(address.host, std::to_string(address.port), ec);
  if (ec || results.empty()) {
    return Result<tcp::endpoint>::Error("cannot resolve " + std::string(setting) + " " +
                                        address.ToString() + ": " + ec.message());
  }
  return Result<tcp::endpoint>::Ok(results.begin()->endpoint());
}

Result<uint16_t> ListenTcp(tcp::acceptor& acceptor, const HostPort& address,
                           std::string_view setting) {
  auto endpoint = ResolveTcp(address, setting);
  if (!endpoint) return Result<uint16_t>::Error(endpoint.error());
  boost::system::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Result<uint16_t>::Error("cannot listen on " + std::string(setting) + " " +
                                   address.ToString() + ": " + ec.message());
  }
  return Result<uint16_t>::Ok(acceptor.local_endpoint().port());
}

std::string BindError(std::string_view listen, std::string_view setting) {
  const auto address = ParseHostPort(listen, setting);
  if (!address) return address.error();
  asio::io_context io;
  boost::system::error_code ec;
  auto results = tcp::resolver(io).resolve(address->host, std::to_string(address->port), ec);
  if (ec) return ec.message();
  for (const auto& result : results) {
    tcp::acceptor acceptor(io);
    acceptor.open(result.endpoint().protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(result.endpoint(), ec);
    if (ec) return ec.message();
  }
  return "the server library refused the address";
}

HostPort ToHostPort(const tcp::endpoint& endpoint) {
  return HostPort{endpoint.address().to_string(), endpoint.port()};
}

}  // namespace lagscale::base
