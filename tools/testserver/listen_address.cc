#include "listen_address.h"

#include <charconv>

namespace lagscale::testserver {

namespace net = boost::asio;

std::string ParseListenAddress(const std::string& text, net::ip::tcp::endpoint* endpoint) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return "expected ADDR:PORT";
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return "port must be a number in [0, 65535]";
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code address_error;
  auto address = net::ip::make_address(host, address_error);
  if (address_error) return "'" + host + "' is not an IP address";
  *endpoint = net::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
  return "";
}

std::string FormatEndpoint(const net::ip::tcp::endpoint& endpoint) {
  // Appended piece by piece rather than with `"[" + s + "]"`: GCC 12 at -O3 reports a bogus
  // -Wrestrict overlap inside std::string's operator+ on temporaries (GCC bug 105329).
  const auto address = endpoint.address();
  std::string text;
  if (address.is_v6()) text.push_back('[');
  text.append(address.to_string());
  if (address.is_v6()) text.push_back(']');
  text.push_back(':');
  text.append(std::to_string(endpoint.port()));
  return text;
}

std::string DialAddress(const net::ip::tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  if (address.is_unspecified()) {
    address = address.is_v6() ? net::ip::address(net::ip::address_v6::loopback())
                              : net::ip::address(net::ip::address_v4::loopback());
  }
  return FormatEndpoint(net::ip::tcp::endpoint(address, endpoint.port()));
}

}  // namespace lagscale::testserver
