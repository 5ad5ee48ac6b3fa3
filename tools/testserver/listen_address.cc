#include "listen_address.h"

#include "lagscale/base/host_port.h"
#include "lagscale/base/tcp_address.h"

namespace lagscale::testserver {

using boost::asio::ip::tcp;

base::Result<tcp::endpoint> ParseListenAddress(const std::string& text, std::string_view flag) {
  auto address = base::ParseHostPort(text, flag, base::EmptyHost::kWildcard);
  if (!address) return base::Result<tcp::endpoint>::Error(address.error());
  return base::ResolveTcp(*address, flag);
}

std::string DialAddress(const tcp::endpoint& endpoint) {
  return base::Dialable(base::ToHostPort(endpoint)).ToString();
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  return base::ToHostPort(endpoint).ToString();
}

}  // namespace lagscale::testserver
